#!/usr/bin/env bash
# Install the Debian packages Ponte's demo and tests use, when they are missing.
# As root with apt-get: installs them. Otherwise: says exactly what to install.
#   usage: scripts/system-deps.sh demo|test
set -euo pipefail

want="${1:-test}"
# command -> Debian package
declare -A pkg=(
  [Xvnc]=tigervnc-standalone-server
  [vncpasswd]=tigervnc-tools
  [xsetroot]=x11-xserver-utils
  [xdpyinfo]=x11-utils
  [xclock]=x11-apps
  [xterm]=xterm
  [npm]=npm
)
if [[ "$want" == test ]]; then
  pkg+=([x11vnc]=x11vnc [Xvfb]=xvfb [chromium]=chromium [xdotool]=xdotool [xev]=x11-utils [nginx]=nginx
        [redis-server]=redis-server [redis-sentinel]=redis-sentinel [psql]=postgresql-client
        [Xtightvnc]=tightvncserver
        # the recording export (python -m gateway recording export) encodes with ffmpeg; its test reads frames back
        [ffmpeg]=ffmpeg [ffprobe]=ffmpeg
        # systemd-analyze verify checks the unit 'ponte-agent install' writes (tests/agents/test_service.py)
        [systemd-analyze]=systemd
        # a real OpenLDAP directory for the LDAP sign-in tests (tests/support/slapd.py)
        [slapd]=slapd [ldapwhoami]=ldap-utils)
fi

missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}")
done
# The PostgreSQL tests start a server of their own when none answers on 5432:
# initdb and pg_ctl live in /usr/lib/postgresql/<version>/bin, not on PATH.
if [[ "$want" == test ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
# Debian splits venv support out of python3.
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With recommends: Xvnc needs xfonts-base ("fixed") and Chromium its fonts to draw text.
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Ponte needs these packages, which are not installed: ${missing[*]}" >&2
  echo "On Debian/Ubuntu, as root:  apt-get install ${missing[*]}" >&2
  echo "Elsewhere, install TigerVNC (Xvnc, vncpasswd), x11vnc, TightVNC 1.3 (Xtightvnc), Xvfb, Chromium, xdotool and Node.js/npm." >&2
  exit 1
fi
