/*
 * Text a peer chose, on its way out of src/metrics. Tenant names, refusal rules, job
 * tables and normalized statements may hold any bytes, but one invalid byte in /metrics
 * makes Prometheus reject the whole scrape (and invalid UTF-8 is not JSON either). So
 * every such string leaves through pgw_mtext_clean (names, /statements) or
 * pgw_mlabel_escape (label values), and nothing else here may copy peer text out.
 * Policy: each invalid sequence becomes one U+FFFD; text is cut only between characters.
 */
#include "metrics-int.h"

#include "pgward/log.h"

#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * The shared walk: <in> as valid UTF-8 into <out> (at most outlen-1 bytes, NUL-ended),
 * with the label escapes when <escape>. Stops before a unit that does not fit whole.
 * Returns true when all of <in> fit.
 */
static bool put_text(const char *in, char *out, size_t outlen, bool escape)
{
	size_t o = 0;

	if (outlen == 0)
		return in[0] == '\0';
	while (*in != '\0') {
		bool valid = true;
		size_t n = (unsigned char)*in < 0x80 ? 1 : pgw_log_utf8_seq(in, &valid), un = n;
		const char *unit = in;

		if (!valid) {
			unit = REPLACEMENT;
			un = sizeof(REPLACEMENT) - 1;
		} else if (escape && *in == '\\') {
			unit = "\\\\";
			un = 2;
		} else if (escape && *in == '"') {
			unit = "\\\"";
			un = 2;
		} else if (escape && *in == '\n') {
			unit = "\\n";
			un = 2;
		}
		if (o + un >= outlen) {
			out[o] = '\0';
			return false;
		}
		memcpy(out + o, unit, un);
		o += un;
		in += n;
	}
	out[o] = '\0';
	return true;
}

bool pgw_mtext_clean(const char *in, char *out, size_t outlen)
{
	return put_text(in, out, outlen, false);
}

bool pgw_mlabel_escape(const char *in, char *out, size_t outlen)
{
	return put_text(in, out, outlen, true);
}
