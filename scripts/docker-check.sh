#!/usr/bin/env bash
# docker-check.sh - validates docker/ without a Docker engine:
#   1. runs the build stage of docker/Dockerfile on this host (Debian 12, like the image):
#      its apt packages, then its COPY and RUN steps in a scratch directory;
#   2. checks that the binary it built needs no shared library beyond what the runtime
#      stage installs, with their dependencies (ldd, dpkg -S, apt-cache depends);
#   3. checks the image's default configuration and docker/pgward.ini with
#      pgward --check-config, and that the Dockerfile EXPOSEs their ports;
#   4. runs docker/healthcheck.sh (the image's HEALTHCHECK) against the pgward it built:
#      healthy, unhealthy (PostgreSQL unreachable) and stopped;
#   5. parses docker/compose.yml with docker-compose config, checks every file it mounts
#      exists and that it loads conf/tenant/ in the order scripts/demo.sh does;
#   6. checks docker/prometheus.yml with promtool, the Grafana provisioning YAML and the
#      dashboard JSON.
# Usage: scripts/docker-check.sh   (as root: it may apt-get install the packages it needs)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGWARD_ROOT"
DOCKERFILE=docker/Dockerfile
PYTHON=/usr/bin/python3
SCRATCH=$(mktemp -d /tmp/pgward-docker-check.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

# The Dockerfile split into stages, continuation lines joined: "stage<TAB>INSTR<TAB>args".
instructions() {
	awk 'BEGIN { stage = -1 }
	/^[[:space:]]*#/ { next }
	{ line = cur $0; if (sub(/\\[[:space:]]*$/, "", line)) { cur = line " "; next } cur = "" }
	line ~ /^[[:space:]]*$/ { next }
	{ split(line, w, " "); instr = toupper(w[1]); args = substr(line, length(w[1]) + 2)
	  if (instr == "FROM") stage++
	  printf "%d\t%s\t%s\n", stage, instr, args }' "$DOCKERFILE"
}

apt_packages() { # stage -> the packages its apt-get install lines name
	instructions | awk -F'\t' -v s="$1" '$1 == s && $2 == "RUN"' | grep -o 'apt-get install[^&]*' |
		sed 's/apt-get install//' | tr ' ' '\n' | grep -v -e '^$' -e '^-' || true
}

log "1/6 build stage on the host"
mapfile -t build_pkgs < <(apt_packages 0)
PGWARD_DEPS=("${build_pkgs[@]}")
install_deps
workdir=$SCRATCH/src
mkdir -p "$workdir"
while IFS=$'\t' read -r stage instr args; do
	[ "$stage" = 0 ] || continue
	case $instr in
	WORKDIR) ;; # the scratch dir stands in for it
	COPY)
		read -r -a parts <<<"$args"
		dest=${parts[-1]}
		for src in "${parts[@]:0:${#parts[@]}-1}"; do
			if [ "$dest" = "./" ]; then
				cp -r "$src" "$workdir/"
			else
				mkdir -p "$(dirname "$workdir/$dest")"
				cp -r "$src" "$workdir/$dest"
			fi
		done
		;;
	RUN)
		case $args in *apt-get*) continue ;; esac
		log "RUN $args"
		(cd "$workdir" && bash -euo pipefail -c "$args")
		;;
	esac
done < <(instructions)
bin=$workdir/build/pgward
[ -x "$bin" ] || die "the build stage did not produce build/pgward"
"$bin" --version

log "2/6 runtime libraries"
mapfile -t runtime_pkgs < <(apt_packages 1)
# What apt installs for the runtime stage: its packages and everything they depend on.
mapfile -t runtime_closure < <(apt-cache depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances "${runtime_pkgs[@]}" |
	grep -v '^ ' | sed 's/:.*//' | sort -u)
missing=0
while read -r lib; do
	# usrmerge: dpkg may know the library under /lib rather than /usr/lib
	pkg=$({ dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || true; } | head -1 | cut -d: -f1)
	case $pkg in libc6 | libgcc-s1 | "") continue ;; esac
	if ! printf '%s\n' "${runtime_closure[@]}" | grep -qx "$pkg"; then
		log "runtime stage lacks $pkg (for $lib)"
		missing=1
	fi
done < <(ldd "$bin" | awk '/=> \// {print $3}' | xargs -r readlink -f)
[ "$missing" = 0 ] || die "docker/Dockerfile's runtime stage misses libraries"
log "every library pgward links is installed by the runtime stage (${#runtime_closure[@]} packages with dependencies)"

log "3/6 configurations"
# server_host names a compose service and map_file a mounted file: point them at this host.
ini_override "$workdir/pgward.ini" "$SCRATCH/image.ini" pgward.server_host=127.0.0.1
"$bin" --check-config -c "$SCRATCH/image.ini"
ini_override docker/pgward.ini "$SCRATCH/compose.ini" pgward.server_host=127.0.0.1 \
	"tenant.map_file=$PGWARD_ROOT/conf/tenant/demo.map"
"$bin" --check-config -c "$SCRATCH/compose.ini"
ini_value() { # file section key
	awk -v want="$2" -v key="$3" '/^\[/ { s = $0; gsub(/[][]/, "", s) }
		s == want && $1 == key && $2 == "=" { print $3 }' "$1"
}
exposed=" $(instructions | awk -F'\t' '$1 == 1 && $2 == "EXPOSE" { print $3 }') "
for f in "$workdir/pgward.ini" docker/pgward.ini; do
	for port in "$(ini_value "$f" pgward listen_port)" "$(ini_value "$f" metrics listen_port)"; do
		[[ "$exposed" == *" $port "* ]] || die "docker/Dockerfile does not EXPOSE $port ($f)"
	done
done
health_port=$(instructions | awk -F'\t' '$1 == 1 && $2 == "ENV"' | grep -o 'PGWARD_METRICS_PORT=[0-9]*' | cut -d= -f2)
[ "$health_port" = "$(ini_value "$workdir/pgward.ini" metrics listen_port)" ] ||
	die "HEALTHCHECK port $health_port is not the image configuration's metrics port"
log "configurations valid, ports exposed:$exposed"

log "4/6 HEALTHCHECK script"
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_health() { # expected-status interval: pgward in front of a port nothing listens on
	local want=$1 interval=$2 port metrics pid rc=0
	port=$(free_port)
	metrics=$(free_port)
	cat >"$SCRATCH/health.ini" <<INI
[pgward]
listen_port = $port
server_port = 1
[metrics]
listen_port = $metrics
health_check_interval = $interval
INI
	"$bin" -c "$SCRATCH/health.ini" 2>"$SCRATCH/health.log" &
	pid=$!
	wait_port "$metrics" 10 || die "pgward did not listen on $metrics: $(cat "$SCRATCH/health.log")"
	PGWARD_METRICS_PORT=$metrics docker/healthcheck.sh || rc=$?
	kill -TERM "$pid"
	wait "$pid" || die "pgward exited $? after SIGTERM"
	[ "$want" = healthy ] && [ "$rc" -ne 0 ] && die "healthcheck failed for a healthy pgward"
	[ "$want" = unhealthy ] && [ "$rc" -eq 0 ] && die "healthcheck passed with PostgreSQL unreachable"
	if PGWARD_METRICS_PORT=$metrics docker/healthcheck.sh 2>/dev/null; then
		die "healthcheck passed with pgward stopped"
	fi
	log "healthcheck: $want as expected, and failing once pgward stopped"
}
run_health healthy 0
run_health unhealthy 1

log "5/6 compose"
PGWARD_DEPS=(python3-yaml docker-compose)
install_deps
docker-compose -f docker/compose.yml config -q
"$PYTHON" - "$(sed -n 's/^TENANT_SQL=(\([^)]*\)).*/\1/p' scripts/demo.sh)" <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open("docker/compose.yml"))
services = doc["services"]
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source")
        if src.startswith((".", "/")):
            path = os.path.normpath(os.path.join("docker", src))
            if not os.path.exists(path):
                sys.exit("compose: service %s mounts %s, which does not exist" % (name, path))
    build = svc.get("build")
    if build:
        ctx = os.path.normpath(os.path.join("docker", build["context"]))
        if not os.path.isfile(os.path.join(ctx, build["dockerfile"])):
            sys.exit("compose: service %s builds from a missing Dockerfile" % name)
initdb = sorted((v.split(":")[1], os.path.basename(v.split(":")[0]))
                for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v)
if [f for _, f in initdb] != sys.argv[1].split():
    sys.exit("compose: initdb order %s differs from demo.sh's %s" % ([f for _, f in initdb], sys.argv[1]))
print("compose: %d services, every mounted file exists, initdb order as in demo.sh" % len(services))
PY

log "6/6 Prometheus and Grafana files"
PGWARD_DEPS=(prometheus)
install_deps
promtool check config docker/prometheus.yml
grep -q "\"pgward:$(ini_value docker/pgward.ini metrics listen_port)\"" docker/prometheus.yml ||
	die "docker/prometheus.yml does not scrape pgward's metrics port"
"$PYTHON" - <<'PY'
import glob, json, yaml
for f in sorted(glob.glob("docker/grafana/provisioning/*/*.yml")):
    doc = yaml.safe_load(open(f))
    assert doc["apiVersion"] == 1 and (doc.get("datasources") or doc.get("providers")), f
    print(f, "parses")
dash = json.load(open("docker/grafana-dashboard.json"))
names = [v["name"] for v in dash["templating"]["list"]]
assert "DS_PROMETHEUS" in names, "the dashboard needs its datasource variable when provisioned"
print("docker/grafana-dashboard.json parses, %d panels" % len(dash["panels"]))
PY
log "docker/ checks passed"
