/*
 * How PostgreSQL reads a constant as a number (int4in, numeric_in) or a boolean (boolin), for
 * folding conditions: exactly, or not at all. Pure string functions.
 */
#include "sql-int.h"

#include <string.h>

static bool blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r'); /* isspace() in the C locale */
}

/*
 * <s> as int4in (<int_only>: optional sign, digits, within 32 bits) or numeric_in (also a
 * fraction and an exponent; NaN and Infinity are not read) reads it, blanks around allowed.
 * False for anything else, or more significant digits than kept: the server then refuses
 * the text, or pgward cannot say, and folding says "unknown" either way.
 */
bool sql_parse_decimal(const char *s, bool int_only, struct sql_decimal *out)
{
	int point = -1, digits = 0;
	long exp = 0;

	memset(out, 0, sizeof(*out));
	while (blank(*s))
		s++;
	if (*s == '+' || *s == '-')
		out->neg = *s++ == '-';
	for (;; s++) {
		if (*s == '.' && !int_only && point < 0) {
			point = digits;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		if (out->n == 0 && *s == '0') { /* a leading zero: only moves the point */
			out->pos -= point >= 0;
			digits++;
			continue;
		}
		if (out->n == sizeof(out->d))
			return false;
		out->d[out->n++] = *s;
		out->pos += point < 0;
		digits++;
	}
	if (digits == 0)
		return false;
	if (!int_only && (*s == 'e' || *s == 'E')) {
		bool eneg = false;
		int edigits = 0;

		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		for (; *s >= '0' && *s <= '9'; s++, edigits++)
			if (exp < 100000)
				exp = exp * 10 + (*s - '0');
		if (edigits == 0)
			return false;
		out->pos += (int)(eneg ? -exp : exp);
	}
	while (blank(*s))
		s++;
	if (*s != '\0')
		return false;
	while (out->n > 0 && out->d[out->n - 1] == '0')
		out->n--;
	if (out->n == 0)
		out->neg = false, out->pos = 0;
	if (int_only &&
	    (out->pos > 10 || (out->pos == 10 &&
			       memcmp(out->d, out->neg ? "2147483648" : "2147483647", out->n) > 0)))
		return false;
	return true;
}

/* -1, 0, 1 as a < b, a = b, a > b. */
int sql_decimal_cmp(const struct sql_decimal *a, const struct sql_decimal *b)
{
	int sign = a->neg ? -1 : 1, c;

	if (a->n == 0 || b->n == 0) /* zero against anything */
		return a->n == b->n ? 0 : a->n == 0 ? (b->neg ? 1 : -1) : (a->neg ? -1 : 1);
	if (a->neg != b->neg)
		return sign;
	if (a->pos != b->pos)
		return a->pos > b->pos ? sign : -sign;
	c = memcmp(a->d, b->d, PGW_MIN(a->n, b->n));
	if (c == 0 && a->n != b->n)
		c = a->n > b->n ? 1 : -1;
	return c == 0 ? 0 : (c > 0 ? sign : -sign);
}

/* boolin(): the string, blanks around it dropped, as parse_bool reads it (1, 0 or -1). */
int sql_bool_of_text(const char *s)
{
	char word[8];
	size_t n;

	while (blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && blank(s[n - 1]))
		n--;
	if (n >= sizeof(word))
		return -1; /* longer than "false": no boolean */
	memcpy(word, s, n);
	word[n] = '\0';
	return pgw_sql_parse_bool(word);
}
