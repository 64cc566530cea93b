#!/usr/bin/env bash
# docker-check.sh - validates docker/ without a Docker engine:
#   1. runs the build stage of docker/Dockerfile on this host (Debian 12, like the image):
#      its apt packages, then its COPY and RUN steps in a scratch directory;
#   2. checks that the binary it built needs no shared library beyond what the runtime
#      stage installs (ldd, each library mapped to its Debian package with dpkg -S);
#   3. parses docker/compose.yml (python3-yaml) and checks every file it mounts exists;
#   4. checks docker/prometheus.yml with promtool, and the Grafana dashboard JSON parses.
# Usage: scripts/docker-check.sh   (as root: it may apt-get install the build packages)
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

log "1/4 build stage on the host"
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
			if [ "$dest" = "./" ]; then cp -r "$src" "$workdir/"; else cp -r "$src" "$workdir/$dest"; fi
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

log "2/4 runtime libraries"
mapfile -t runtime_pkgs < <(apt_packages 1)
missing=0
while read -r lib; do
	# usrmerge: dpkg may know the library under /lib rather than /usr/lib
	pkg=$({ dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || true; } | head -1 | cut -d: -f1)
	case $pkg in libc6 | libgcc-s1 | "") continue ;; esac
	if ! printf '%s\n' "${runtime_pkgs[@]}" | grep -qx "$pkg"; then
		log "runtime stage lacks $pkg (for $lib)"
		missing=1
	fi
done < <(ldd "$bin" | awk '/=> \// {print $3}' | xargs -r readlink -f)
[ "$missing" = 0 ] || die "docker/Dockerfile's runtime stage misses libraries"
log "every library pgward links is installed by the runtime stage"

log "3/4 compose"
if [ -f docker/compose.yml ]; then
	PGWARD_DEPS=(python3-yaml)
	install_deps
	"$PYTHON" - <<'PY'
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
    for dep in svc.get("depends_on", []):
        if dep not in services:
            sys.exit("compose: service %s depends on unknown %s" % (name, dep))
print("compose: %d services, every mounted file exists" % len(services))
PY
else
	log "no docker/compose.yml"
fi

log "4/4 Prometheus and Grafana files"
if [ -f docker/prometheus.yml ]; then
	PGWARD_DEPS=(prometheus)
	install_deps
	promtool check config docker/prometheus.yml
fi
for f in docker/grafana/*.json docker/*.json; do
	[ -f "$f" ] && "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1])); print(sys.argv[1], "parses")' "$f"
done
log "docker/ checks passed"
