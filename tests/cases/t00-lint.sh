# scripts/lint.sh: the tree holds no banned call (strcpy, strcat, sprintf,
# vsprintf, strtok, atoi), and the checker finds each one planted in a file,
# at its line, while leaving comments, literals, longer names and fields alone.
source "$(dirname "$0")/../lib.sh"
LINT=$HERE/../scripts/lint.sh

expect_exit 0 "the source tree has no banned call" "$LINT"
[ -s "$T/out" ] && not_ok "a clean tree prints nothing: $(head -c 400 "$T/out")" || ok "a clean tree prints nothing"

for name in strcpy strcat sprintf vsprintf strtok atoi; do
	mkdir -p "$T/$name/sub"
	printf '#include <string.h>\n\nint f(char *d, const char *s)\n{\n\treturn (int)%s (d, s);\n}\n' "$name" \
		>"$T/$name/sub/planted.c"
	expect_exit 1 "the checker fails on a planted $name" "$LINT" "$T/$name"
	if grep -qx "$T/$name/sub/planted.c:5: $name() is banned.*" "$T/out"; then
		ok "it names the file and line of the planted $name"
	else
		not_ok "it names the file and line of the planted $name: $(head -c 400 "$T/out")"
	fi
done

mkdir -p "$T/decoys"
cat >"$T/decoys/decoys.h" <<'EOF'
/* strcpy(a, b) in a comment,
 * and atoi(x) on its second line */
// strcat(a, b)
static const char *s = "sprintf(buf, fmt) \" strtok(a, b)";
static const char c = '"'; /* a quote in a character literal does not open a string: atoi(x) */
int g(struct t *p, struct t v, char *d, const char *s2, char **r)
{
	ep_sprintf_x(d);
	my_atoi(s2);
	p->strcpy(d, s2);
	v.atoi(s2);
	snprintf(d, 8, "%s", s2);
	vsnprintf(d, 8, s2, 0);
	strtok_r(d, " ", r);
	return strtol(s2, NULL, 10);
}
EOF
expect_exit 0 "comments, literals, longer names and fields are not calls" "$LINT" "$T/decoys"
cp "$T/decoys/decoys.h" "$T/decoys/both.c"
printf 'int h(char *d) { return atoi(d); }\n' >>"$T/decoys/both.c"
expect_exit 1 "a call after the decoys is still found" "$LINT" "$T/decoys/both.c"
grep -qx "$T/decoys/both.c:17: atoi() is banned.*" "$T/out" && [ "$(wc -l <"$T/out")" = 1 ] &&
	ok "only that call is reported, at its line" || not_ok "only that call is reported: $(head -c 400 "$T/out")"
finish
