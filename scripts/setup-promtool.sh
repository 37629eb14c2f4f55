#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package) for the rule checks and rule unit tests;
# skipped when promtool already answers. Prints the PROMTOOL export on stdout.
#
# The package also ships the Prometheus server; on machines with an init system its install may
# start it. We never want one listening, so any server the install started is stopped again.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  echo "setup-promtool: installing Debian's prometheus package (for promtool)" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  BEFORE="$(pgrep -x prometheus || true)"
  $SUDO apt-get install -y -q prometheus 1>&2 || { $SUDO apt-get update -q 1>&2 && $SUDO apt-get install -y -q prometheus 1>&2; }
  for pid in $(pgrep -x prometheus || true); do
    case " $BEFORE " in *" $pid "*) ;; *) $SUDO kill "$pid" 2>/dev/null || true ;; esac
  done
fi
echo "export PROMTOOL=$(command -v promtool)"
