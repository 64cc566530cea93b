/*
 * The standard process_* metrics every Prometheus client library exports, read from
 * /proc at scrape time.
 */
#include "metrics-int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct proc_stat {
	double cpu_seconds;
	double start_time; /* Unix time */
	uint64_t rss_bytes;
	uint64_t vsize_bytes;
};

static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	double btime = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

static bool read_stat(struct proc_stat *ps)
{
	FILE *f = fopen("/proc/self/stat", "r");
	char buf[1024], *p;
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long rss, hz = sysconf(_SC_CLK_TCK);
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold blanks and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (p == NULL || hz <= 0)
		return false;
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
		   "%llu %lu %ld",
		   &utime, &stime, &start, &vsize, &rss) != 5)
		return false;
	ps->cpu_seconds = (double)(utime + stime) / (double)hz;
	ps->start_time = boot_time() + (double)start / (double)hz;
	ps->rss_bytes = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
	ps->vsize_bytes = vsize;
	return true;
}

static uint64_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not counting the one opendir holds */
}

static void double_family(struct pgw_mbuf *b, const char *name, const char *type, const char *help,
			  double v)
{
	pgw_mbuf_family(b, name, type, help);
	pgw_mbuf_puts(b, name);
	pgw_mbuf_put(b, " ", 1);
	pgw_mbuf_double(b, v);
	pgw_mbuf_put(b, "\n", 1);
}

void pgw_mprocess_render(struct pgw_mbuf *b)
{
	struct proc_stat ps;
	struct rlimit rl;

	if (read_stat(&ps)) {
		double_family(b, "process_cpu_seconds_total", "counter",
			      "Total user and system CPU time spent in seconds.", ps.cpu_seconds);
		pgw_mbuf_scalar(b, "process_resident_memory_bytes", "gauge",
				"Resident memory size in bytes.", ps.rss_bytes);
		pgw_mbuf_scalar(b, "process_virtual_memory_bytes", "gauge",
				"Virtual memory size in bytes.", ps.vsize_bytes);
		double_family(b, "process_start_time_seconds", "gauge",
			      "Start time of the process since unix epoch in seconds.",
			      ps.start_time);
	}
	pgw_mbuf_scalar(b, "process_open_fds", "gauge", "Number of open file descriptors.",
			open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		pgw_mbuf_scalar(b, "process_max_fds", "gauge",
				"Maximum number of open file descriptors.", (uint64_t)rl.rlim_cur);
}
