# qkdlab-dash/: the live lab dashboard (libmicrohttpd, one embedded page).
BINS += qkdlab-dash/qkdlab-dash
qkdlab_dash_qkdlab_dash_OBJS := qkdlab-dash/main.o qkdlab-dash/dash_conf.o \
	qkdlab-dash/dash_fetch.o qkdlab-dash/dash_poll.o qkdlab-dash/dash_http.o \
	qkdlab-dash/dash_page.o
MAN8 += man/qkdlab-dash.8

$(B)/qkdlab-dash/%.o: CFLAGS += -Iqkdlab-dash

# The page is served from memory: dash.html becomes one C string.
$(B)/qkdlab-dash/dash_page.c: qkdlab-dash/dash.html lib/embed.awk
	@mkdir -p $(dir $@)
	$(Q)awk -v name=dash_page_html -f lib/embed.awk $< > $@
$(B)/qkdlab-dash/dash_page.o: $(B)/qkdlab-dash/dash_page.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
.PRECIOUS: $(B)/qkdlab-dash/dash_page.c
