# api/: OpenAPI 3.1 documents of the HTTP APIs, shipped, installed and
# served by the daemons from memory (lib/embed.awk makes each a C string).
API_DOCS := api/etsi014.yaml api/skip.yaml api/admin.yaml

$(B)/api/%_yaml.c: api/%.yaml lib/embed.awk
	@mkdir -p $(dir $@)
	$(Q)awk -v name=api_$*_yaml -f lib/embed.awk $< > $@
$(B)/api/%_yaml.o: $(B)/api/%_yaml.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
# Keep the generated sources (make would delete them as intermediates).
.PRECIOUS: $(B)/api/%_yaml.c
