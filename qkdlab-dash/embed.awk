# embed.awk — a text file as one C string: awk -v name=NAME -f embed.awk FILE
BEGIN { printf "/* Generated from the page source by embed.awk; do not edit. */\n" }
BEGIN { printf "const char %s[] =\n", name }
{
	gsub(/\\/, "\\\\")
	gsub(/"/, "\\\"")
	gsub(/\t/, "\\t")
	printf "\t\"%s\\n\"\n", $0
}
END { printf "\t\"\";\n" }
