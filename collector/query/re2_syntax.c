/*
 * re2_syntax.c - Go's regexp/syntax parser (Perl flags, as regexp.Compile
 * uses it), reduced to its error checks; see re2_syntax.h.
 *
 * Prometheus 2.42 compiles a matcher's value as "^(?:" + value + ")$", and
 * Go reports errors as slices of that whole pattern: "missing closing ):
 * `^(?:()$`", "missing closing ]: `[a)$`". So this check runs over the same
 * wrapped text and follows the order of Go's parse loop (parse.go): groups
 * and Perl flags (parsePerlFlags), classes (parseClass, parsePOSIXClass,
 * parseUnicodeClass, parseClassChar), escapes (parseEscape), repetition
 * (parseRepeat, repeat and repeatIsValid's limit of 1000 on nested counts)
 * and the nesting depth limit of 1000 (checkHeight). No tree is built: each
 * open group keeps what the checks need of the items on Go's stack.
 */
#include "query/re2_syntax.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* Go's limits: repeat counts (parse.go "1000"), tree height (maxHeight). */
#define GO_MAX_REPEAT 1000
#define GO_MAX_HEIGHT 1000

/* The items of one open group on Go's parse stack, as far as the checks need them. */
struct frame {
	bool capture;      /* ( rather than (?: - a capture adds a level to the tree */
	bool has_last;     /* the stack top is an item of this group, not ( or | */
	bool last_lit;     /* that item is a literal run (Go merges adjacent literals) */
	size_t lit_runes;  /* runes in that run: a repetition splits off the last one */
	int items;         /* items of the current branch, the last included */
	int max_h;         /* greatest height of the branch's items but the last */
	int last_h;        /* height of the last item */
	int branches;      /* finished branches (one per '|') */
	int alt_h;         /* greatest height of the finished branches */
	uint32_t max_req;  /* repeatIsValid: least budget the finished items need */
	uint32_t last_req; /* ... and the last item */
};

struct goparse {
	const char *w; /* "^(?:" value ")$" */
	size_t n;
	char *why;
	size_t why_len;
	struct frame *fr;
	size_t depth; /* open frames; fr[0] is the whole pattern */
	char *out;    /* the pattern for PCRE2, or NULL when only checking */
	size_t out_n;
	size_t copied; /* w[0, copied) is in out */
};

/*
 * The PCRE2 pattern is w with a few pieces replaced, in order: w[at,
 * at+len) becomes text. out has room for 8 bytes per byte of w.
 */
static void replace(struct goparse *g, size_t at, size_t len, const char *text)
{
	if (g->out == NULL)
		return;
	memcpy(g->out + g->out_n, g->w + g->copied, at - g->copied);
	g->out_n += at - g->copied;
	size_t tl = strlen(text);
	memcpy(g->out + g->out_n, text, tl);
	g->out_n += tl;
	g->copied = at + len;
}

static int go_err(struct goparse *g, const char *code, size_t from, size_t to)
{
	if (g->why && g->why_len)
		snprintf(g->why, g->why_len, "error parsing regexp: %s: `%.*s`", code,
		         (int)(to - from), g->w + from);
	return ML_EINVAL;
}

/* Go's utf8.DecodeRuneInString: the rune's length, 0 at the end, -1 when invalid. */
static int next_rune(const struct goparse *g, size_t i, uint32_t *r)
{
	const unsigned char *s = (const unsigned char *)g->w + i;
	size_t left = g->n - i;
	if (left == 0) {
		*r = 0xfffd;
		return 0;
	}
	if (s[0] < 0x80) {
		*r = s[0];
		return 1;
	}
	int len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (len == 0 || s[0] > 0xf4 || (size_t)len > left)
		return -1;
	uint32_t c = s[0] & (0x7f >> len);
	for (int k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[k] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*r = c;
	return len;
}

static int utf8_err(struct goparse *g, size_t i)
{
	return go_err(g, "invalid UTF-8", i, g->n);
}

static struct frame *top(struct goparse *g)
{
	return &g->fr[g->depth - 1];
}

static int branch_height(const struct frame *f)
{
	if (f->items == 0)
		return 1; /* an empty match */
	int h = f->max_h > f->last_h ? f->max_h : f->last_h;
	return f->items == 1 ? h : h + 1;
}

static uint32_t branch_req(const struct frame *f)
{
	return f->max_req > f->last_req || !f->has_last ? f->max_req : f->last_req;
}

/* Pushes an item of height h needing budget req onto the current group. */
static void push_item(struct goparse *g, int h, uint32_t req, bool literal)
{
	struct frame *f = top(g);
	if (literal && f->has_last && f->last_lit) {
		f->lit_runes++;
		return;
	}
	if (f->has_last) {
		if (f->last_h > f->max_h)
			f->max_h = f->last_h;
		if (f->last_req > f->max_req)
			f->max_req = f->last_req;
	}
	f->items++;
	f->has_last = true;
	f->last_lit = literal;
	f->lit_runes = 1;
	f->last_h = h;
	f->last_req = req;
}

static int check_height(struct goparse *g, int h)
{
	return h > GO_MAX_HEIGHT ? go_err(g, "expression nests too deeply", 0, g->n) : 0;
}

static int open_group(struct goparse *g, bool capture)
{
	struct frame *f = top(g);
	if (f->has_last) { /* the stack top becomes "(": fold the last item in */
		if (f->last_h > f->max_h)
			f->max_h = f->last_h;
		if (f->last_req > f->max_req)
			f->max_req = f->last_req;
	}
	/* One frame per byte of the pattern at most: depth < n. */
	struct frame *nf = &g->fr[g->depth++];
	memset(nf, 0, sizeof(*nf));
	nf->capture = capture;
	return 0;
}

/*
 * Closes the innermost group as parseRightParen does, or the whole pattern
 * (depth 1) at the end; the group becomes one item of the enclosing one.
 */
static int close_group(struct goparse *g)
{
	struct frame *f = top(g);
	int h = branch_height(f);
	uint32_t req = branch_req(f);
	if (f->branches > 0) {
		if (f->alt_h > h)
			h = f->alt_h;
		h++;
	}
	if (f->capture)
		h++;
	g->depth--;
	int rc = check_height(g, h);
	if (rc != 0 || g->depth == 0)
		return rc;
	push_item(g, h, req, false);
	return 0;
}

static void vertical_bar(struct goparse *g)
{
	struct frame *f = top(g);
	int h = branch_height(f);
	uint32_t req = branch_req(f);
	if (h > f->alt_h)
		f->alt_h = h;
	f->branches++;
	f->items = 0;
	f->max_h = 0;
	f->has_last = false;
	f->last_lit = false;
	f->max_req = req > f->max_req ? req : f->max_req;
	f->last_req = 0;
}

/*
 * Go's repeat(): the operator spans w[before, *after); counted repeats give
 * min and max (max -1: none). last_repeat is where the previous iteration's
 * repetition started, or SIZE_MAX.
 */
static int go_repeat(struct goparse *g, bool counted, long min, long max, size_t before,
                     size_t *after, size_t last_repeat)
{
	if (*after < g->n && g->w[*after] == '?')
		(*after)++;
	if (last_repeat != SIZE_MAX)
		return go_err(g, "invalid nested repetition operator", last_repeat, *after);
	struct frame *f = top(g);
	if (!f->has_last)
		return go_err(g, "missing argument to repetition operator", before, *after);
	uint32_t req = f->last_req;
	if (counted) {
		long m = max < 0 ? min : max;
		uint64_t r = m == 0 ? 0 : (uint64_t)m * (req > 0 ? req : 1);
		if ((min >= 2 || max >= 2) && r > GO_MAX_REPEAT)
			return go_err(g, "invalid repeat count", before, *after);
		req = (uint32_t)r;
	}
	if (f->last_lit && f->lit_runes > 1) { /* the run's last rune is repeated alone */
		if (f->max_h < 1)
			f->max_h = 1;
		f->items++;
	}
	f->last_lit = false;
	f->last_h++;
	f->last_req = req;
	return check_height(g, f->last_h);
}

/* Go's parseInt: digits without a leading zero; -1 when 1e8 or more. */
static bool parse_int(const struct goparse *g, size_t *i, long *v)
{
	size_t j = *i;
	if (j >= g->n || g->w[j] < '0' || g->w[j] > '9')
		return false;
	if (g->n - j >= 2 && g->w[j] == '0' && g->w[j + 1] >= '0' && g->w[j + 1] <= '9')
		return false;
	long n = 0;
	for (; j < g->n && g->w[j] >= '0' && g->w[j] <= '9'; j++) {
		if (n >= 100000000)
			n = -1;
		else if (n >= 0)
			n = n * 10 + (g->w[j] - '0');
	}
	*i = j;
	*v = n;
	return true;
}

/* Go's parseRepeat at w[i] == '{': false when it is a literal '{'. */
static bool parse_repeat(const struct goparse *g, size_t i, long *min, long *max, size_t *rest)
{
	size_t j = i + 1;
	if (!parse_int(g, &j, min) || j >= g->n)
		return false;
	if (g->w[j] != ',') {
		*max = *min;
	} else {
		j++;
		if (j >= g->n)
			return false;
		if (g->w[j] == '}') {
			*max = -1;
		} else {
			if (!parse_int(g, &j, max))
				return false;
			if (*max < 0)
				*min = -1;
		}
	}
	if (j >= g->n || g->w[j] != '}')
		return false;
	*rest = j + 1;
	return true;
}

static int hexval(uint32_t c)
{
	return c >= '0' && c <= '9'   ? (int)c - '0'
	       : c >= 'a' && c <= 'f' ? (int)c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? (int)c - 'A' + 10
	                              : -1;
}

static bool is_alnum(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Go's parseEscape at w[*i] == '\\': the rune, *i past the escape. */
static int parse_escape(struct goparse *g, size_t *i, uint32_t *r)
{
	size_t s = *i, t = s + 1;
	if (t >= g->n)
		return go_err(g, "trailing backslash at end of expression", 0, 0);
	uint32_t c;
	int l = next_rune(g, t, &c);
	if (l < 0)
		return utf8_err(g, t);
	t += (size_t)l;
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		/* A single non-zero digit is a backreference. */
		if (t >= g->n || g->w[t] < '0' || g->w[t] > '7')
			break;
		/* fall through */
	case '0': {
		*r = c - '0';
		for (int k = 1; k < 3 && t < g->n && g->w[t] >= '0' && g->w[t] <= '7'; k++)
			*r = *r * 8 + (uint32_t)(g->w[t++] - '0');
		char hex[16]; /* PCRE2 may read \12 as a backreference */
		snprintf(hex, sizeof(hex), "\\x{%x}", (unsigned)*r);
		replace(g, s, t - s, hex);
		*i = t;
		return 0;
	}
	case 'x': {
		if (t >= g->n)
			break;
		if ((l = next_rune(g, t, &c)) < 0)
			return utf8_err(g, t);
		t += (size_t)l;
		if (c == '{') {
			int nhex = 0;
			uint32_t v = 0;
			for (;;) {
				if (t >= g->n)
					return go_err(g, "invalid escape sequence", s, t);
				if ((l = next_rune(g, t, &c)) < 0)
					return utf8_err(g, t);
				t += (size_t)l;
				if (c == '}')
					break;
				int d = hexval(c);
				if (d < 0)
					return go_err(g, "invalid escape sequence", s, t);
				v = v * 16 + (uint32_t)d;
				if (v > 0x10ffff)
					return go_err(g, "invalid escape sequence", s, t);
				nhex++;
			}
			if (nhex == 0)
				return go_err(g, "invalid escape sequence", s, t);
			*r = v;
			*i = t;
			return 0;
		}
		int x = hexval(c);
		if ((l = next_rune(g, t, &c)) < 0)
			return utf8_err(g, t);
		t += (size_t)l;
		int y = hexval(c);
		if (x < 0 || y < 0)
			break;
		*r = (uint32_t)(x * 16 + y);
		*i = t;
		return 0;
	}
	case 'a':
		*r = 7;
		*i = t;
		return 0;
	case 'f':
		*r = 12;
		*i = t;
		return 0;
	case 'n':
		*r = 10;
		*i = t;
		return 0;
	case 'r':
		*r = 13;
		*i = t;
		return 0;
	case 't':
		*r = 9;
		*i = t;
		return 0;
	case 'v': /* PCRE2's \v is any vertical space */
		*r = 11;
		replace(g, s, t - s, "\\x{b}");
		*i = t;
		return 0;
	default:
		if (c < 0x80 && !is_alnum(c)) { /* escaped punctuation is itself */
			*r = c;
			*i = t;
			return 0;
		}
		break;
	}
	return go_err(g, "invalid escape sequence", s, t);
}

static const char *const go_categories[] = {
    "C",  "Cc", "Cf", "Co", "Cs", "L",  "Ll", "Lm", "Lo", "Lt", "Lu", "M",
    "Mc", "Me", "Mn", "N",  "Nd", "Nl", "No", "P",  "Pc", "Pd", "Pe", "Pf",
    "Pi", "Po", "Ps", "S",  "Sc", "Sk", "Sm", "So", "Z",  "Zl", "Zp", "Zs",
};

/*
 * Go 1.19's unicode.Scripts (Unicode 13.0.0), the Go Prometheus 2.42 was
 * built with: a script of Unicode 14 or later (Toto, Vithkuqi, Kawi, ...) is
 * an "invalid character class range" there. Sorted, for bsearch.
 */
static const char *const go_scripts[] = {
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Ugaritic",
    "Vai",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
};

static int name_cmp(const void *key, const void *elem)
{
	const char *const *k = key;
	return strcmp(*k, *(const char *const *)elem);
}

/* Go's unicodeTable: "Any", a general category or a script, spelt exactly. */
static bool unicode_table_known(const char *name, size_t len)
{
	if (len == 3 && memcmp(name, "Any", 3) == 0)
		return true;
	for (size_t k = 0; k < sizeof(go_categories) / sizeof(go_categories[0]); k++)
		if (strlen(go_categories[k]) == len && memcmp(go_categories[k], name, len) == 0)
			return true;
	char key[32];
	if (len >= sizeof(key))
		return false;
	memcpy(key, name, len);
	key[len] = '\0';
	const char *kp = key;
	return bsearch(&kp, go_scripts, sizeof(go_scripts) / sizeof(go_scripts[0]),
	               sizeof(go_scripts[0]), name_cmp) != NULL;
}

/*
 * Go's parseUnicodeClass at w[*i]: 1 and *i moved past \pX or \p{Name},
 * 0 when w[*i] does not start one, or an error.
 */
static int unicode_class(struct goparse *g, size_t *i)
{
	size_t s = *i;
	if (g->n - s < 2 || g->w[s] != '\\' || (g->w[s + 1] != 'p' && g->w[s + 1] != 'P'))
		return 0;
	size_t t = s + 2, name, name_end, seq_end;
	uint32_t c;
	int l = next_rune(g, t, &c);
	if (l < 0)
		return utf8_err(g, t);
	if (c != '{') {
		name = t;
		name_end = seq_end = t + (size_t)l;
	} else {
		const char *end = memchr(g->w + s, '}', g->n - s);
		if (end == NULL) {
			for (size_t k = s; k < g->n;) {
				int kl = next_rune(g, k, &c);
				if (kl < 0)
					return utf8_err(g, k);
				k += (size_t)kl;
			}
			return go_err(g, "invalid character class range", s, g->n);
		}
		name = s + 3;
		name_end = (size_t)(end - g->w);
		seq_end = name_end + 1;
	}
	if (name < name_end && g->w[name] == '^')
		name++;
	if (!unicode_table_known(g->w + name, name_end - name))
		return go_err(g, "invalid character class range", s, seq_end);
	*i = seq_end;
	return 1;
}

static bool perl_class_escape(const struct goparse *g, size_t i)
{
	return g->n - i >= 2 && g->w[i] == '\\' && g->w[i + 1] != '\0' &&
	       strchr("dDsSwW", g->w[i + 1]) != NULL;
}

static const char *const posix_names[] = {
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
    "lower", "print", "punct", "space", "upper", "word",  "xdigit",
};

/* Go's parsePOSIXClass at w[*i] == '[', w[*i+1] == ':': 1 when read, 0 when not one. */
static int posix_class(struct goparse *g, size_t *i)
{
	size_t s = *i;
	size_t k = s + 2;
	while (k + 1 < g->n && !(g->w[k] == ':' && g->w[k + 1] == ']'))
		k++;
	if (k + 1 >= g->n)
		return 0;
	size_t end = k + 2; /* "[:name:]" is w[s, end) */
	size_t nm = s + 2;
	if (nm < k && g->w[nm] == '^')
		nm++;
	for (size_t p = 0; p < sizeof(posix_names) / sizeof(posix_names[0]); p++)
		if (strlen(posix_names[p]) == k - nm &&
		    memcmp(posix_names[p], g->w + nm, k - nm) == 0) {
			*i = end;
			return 1;
		}
	return go_err(g, "invalid character class range", s, end);
}

/* Go's parseClassChar: a rune or an escape inside [...]; whole is where '[' is. */
static int class_char(struct goparse *g, size_t *i, uint32_t *r, size_t whole)
{
	if (*i >= g->n)
		return go_err(g, "missing closing ]", whole, g->n);
	if (g->w[*i] == '\\')
		return parse_escape(g, i, r);
	int l = next_rune(g, *i, r);
	if (l < 0)
		return utf8_err(g, *i);
	*i += (size_t)l;
	return 0;
}

/* Go's parseClass at w[*i] == '['. */
static int parse_class(struct goparse *g, size_t *i)
{
	size_t s = *i, t = s + 1;
	if (t < g->n && g->w[t] == '^')
		t++;
	bool first = true;
	while (t >= g->n || g->w[t] != ']' || first) {
		first = false;
		int rc;
		if (g->n - t > 2 && g->w[t] == '[' && g->w[t + 1] == ':') {
			if ((rc = posix_class(g, &t)) < 0)
				return rc;
			if (rc == 1)
				continue;
		}
		if ((rc = unicode_class(g, &t)) < 0)
			return rc;
		if (rc == 1)
			continue;
		if (perl_class_escape(g, t)) {
			t += 2;
			continue;
		}
		size_t rng = t;
		uint32_t lo, hi;
		if ((rc = class_char(g, &t, &lo, s)) != 0)
			return rc;
		if (g->n - t >= 2 && g->w[t] == '-' && g->w[t + 1] != ']') {
			t++;
			if ((rc = class_char(g, &t, &hi, s)) != 0)
				return rc;
			if (hi < lo)
				return go_err(g, "invalid character class range", rng, t);
		} else if (g->w[rng] == '-') {
			/* A lone '-' is a literal to Go wherever it stands ([\d-z]); not to PCRE2.
			 */
			replace(g, rng, 1, "\\-");
		}
	}
	*i = t + 1;
	return 0;
}

static bool valid_capture_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t k = 0; k < n; k++)
		if (!is_alnum((unsigned char)s[k]) && s[k] != '_')
			return false;
	return true;
}

/* Go's parsePerlFlags at w[*i] == '(', w[*i+1] == '?'. */
static int perl_flags(struct goparse *g, size_t *i)
{
	size_t s = *i;
	if (g->n - s > 4 && g->w[s + 2] == 'P' && g->w[s + 3] == '<') {
		const char *end = memchr(g->w + s, '>', g->n - s);
		if (end == NULL) {
			for (size_t k = s; k < g->n;) {
				uint32_t c;
				int kl = next_rune(g, k, &c);
				if (kl < 0)
					return utf8_err(g, k);
				k += (size_t)kl;
			}
			return go_err(g, "invalid named capture", s, g->n);
		}
		size_t e = (size_t)(end - g->w);
		if (!valid_capture_name(g->w + s + 4, e - s - 4))
			return go_err(g, "invalid named capture", s, e + 1);
		replace(g, s, e + 1 - s, "("); /* PCRE2 has its own rules for names */
		*i = e + 1;
		return open_group(g, true);
	}
	size_t t = s + 2;
	int sign = 1;
	bool saw_flag = false;
	while (t < g->n) {
		uint32_t c;
		int l = next_rune(g, t, &c);
		if (l < 0)
			return utf8_err(g, t);
		t += (size_t)l;
		if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
			saw_flag = true;
			continue;
		}
		if (c == '-') {
			if (sign < 0)
				break;
			sign = -1;
			saw_flag = false;
			continue;
		}
		if (c == ':' || c == ')') {
			if (sign < 0 && !saw_flag)
				break;
			*i = t;
			return c == ':' ? open_group(g, false) : 0;
		}
		break;
	}
	return go_err(g, "invalid or unsupported Perl syntax", s, t);
}

static int parse_loop(struct goparse *g)
{
	size_t last_repeat = SIZE_MAX;
	size_t i = 0;
	int rc;
	while (i < g->n) {
		size_t repeat = SIZE_MAX;
		char c = g->w[i];
		switch (c) {
		case '(':
			if (g->n - i >= 2 && g->w[i + 1] == '?') {
				if ((rc = perl_flags(g, &i)) != 0)
					return rc;
				break;
			}
			open_group(g, true);
			i++;
			break;
		case '|':
			vertical_bar(g);
			i++;
			break;
		case ')':
			if (g->depth < 2)
				return go_err(g, "unexpected )", 0, g->n);
			if ((rc = close_group(g)) != 0)
				return rc;
			i++;
			break;
		case '^':
		case '$':
			/* Go repeats an assertion (^*), PCRE2 only a group of one. */
			replace(g, i, 1, c == '^' ? "(?:^)" : "(?:$)");
			push_item(g, 1, 0, false);
			i++;
			break;
		case '.':
			push_item(g, 1, 0, false);
			i++;
			break;
		case '[':
			if ((rc = parse_class(g, &i)) != 0)
				return rc;
			push_item(g, 1, 0, false);
			break;
		case '*':
		case '+':
		case '?': {
			size_t after = i + 1;
			if ((rc = go_repeat(g, false, 0, 0, i, &after, last_repeat)) != 0)
				return rc;
			repeat = i;
			i = after;
			break;
		}
		case '{': {
			long min, max;
			size_t after;
			if (!parse_repeat(g, i, &min, &max, &after)) {
				push_item(g, 1, 0, true); /* a literal '{' */
				i++;
				break;
			}
			if (min < 0 || min > GO_MAX_REPEAT || max > GO_MAX_REPEAT ||
			    (max >= 0 && min > max))
				return go_err(g, "invalid repeat count", i, after);
			if ((rc = go_repeat(g, true, min, max, i, &after, last_repeat)) != 0)
				return rc;
			repeat = i;
			i = after;
			break;
		}
		case '\\': {
			char e = g->n - i >= 2 ? g->w[i + 1] : '\0';
			if (e == 'A' || e == 'b' || e == 'B' || e == 'z') {
				char grp[8] = "(?:\\x)";
				grp[4] = e;
				replace(g, i, 2, grp);
				push_item(g, 1, 0, false);
				i += 2;
				break;
			}
			if (e == 'C')
				return go_err(g, "invalid escape sequence", i, i + 2);
			if (e == 'Q') { /* \Q...\E: literal text */
				size_t j = i + 2;
				while (j < g->n &&
				       !(g->w[j] == '\\' && j + 1 < g->n && g->w[j + 1] == 'E')) {
					uint32_t r;
					int l = next_rune(g, j, &r);
					if (l < 0)
						return utf8_err(g, j);
					push_item(g, 1, 0, true);
					j += (size_t)l;
				}
				i = j < g->n ? j + 2 : g->n;
				break;
			}
			if ((rc = unicode_class(g, &i)) < 0)
				return rc;
			if (rc == 1) {
				push_item(g, 1, 0, false);
				break;
			}
			if (perl_class_escape(g, i)) {
				/* Go's \s is [\t\n\f\r ]; PCRE2's takes \v in too. */
				if (g->w[i + 1] == 's' || g->w[i + 1] == 'S')
					replace(g, i, 2,
					        g->w[i + 1] == 's' ? "[\\t\\n\\f\\r ]"
					                           : "[^\\t\\n\\f\\r ]");
				push_item(g, 1, 0, false);
				i += 2;
				break;
			}
			uint32_t r;
			if ((rc = parse_escape(g, &i, &r)) != 0)
				return rc;
			push_item(g, 1, 0, true);
			break;
		}
		default: {
			uint32_t r;
			int l = next_rune(g, i, &r);
			if (l < 0)
				return utf8_err(g, i);
			push_item(g, 1, 0, true);
			i += (size_t)l;
			break;
		}
		}
		last_repeat = repeat;
	}
	if (g->depth != 1)
		return go_err(g, "missing closing )", 0, g->n);
	return close_group(g);
}

static int run(const char *re, size_t n, char **pcre, size_t *pcre_len, char *why, size_t why_len)
{
	if (why && why_len)
		why[0] = '\0';
	char *w = ml_malloc(n + 6);
	/* At most one frame per byte: every frame but the first opens at a '('. */
	struct frame *fr = ml_calloc(n + 7, sizeof(*fr));
	char *out = pcre ? ml_malloc(8 * (n + 6) + 1) : NULL;
	int rc = ML_ENOMEM;
	if (w == NULL || fr == NULL || (pcre && out == NULL))
		goto out;
	memcpy(w, "^(?:", 4);
	if (n)
		memcpy(w + 4, re, n);
	memcpy(w + 4 + n, ")$", 2);
	struct goparse g = {w, n + 6, why, why_len, fr, 1, out, 0, 0};
	rc = parse_loop(&g);
	if (rc == 0 && pcre && n > 0) {
		/*
		 * A matcher (Prometheus's NewFastRegexMatcher) also parses the bare
		 * value, which refuses what the anchoring group would balance:
		 * "a)|(b" is "unexpected ): `a)|(b`".
		 */
		struct goparse bare = {re, n, why, why_len, fr, 1, NULL, 0, 0};
		memset(fr, 0, (n + 7) * sizeof(*fr));
		rc = parse_loop(&bare);
	}
	if (rc == 0 && pcre) {
		replace(&g, g.n, 0, "");
		out[g.out_n] = '\0';
		*pcre = out;
		*pcre_len = g.out_n;
		out = NULL;
	}
out:
	ml_free(out);
	ml_free(fr);
	ml_free(w);
	return rc;
}

int ml_re2_syntax_check(const char *re, size_t n, char *why, size_t why_len)
{
	return run(re, n, NULL, NULL, why, why_len);
}

int ml_re2_to_pcre2(const char *re, size_t n, char **pcre, size_t *pcre_len, char *why,
                    size_t why_len)
{
	*pcre = NULL;
	*pcre_len = 0;
	return run(re, n, pcre, pcre_len, why, why_len);
}
