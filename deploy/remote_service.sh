# Install the systemd unit (text in $1), enable it and restart it; check it stays active.
# Arguments: UNIT_TEXT. Exit 30: unit rejected by systemd-analyze, 31: not active after start.
set -eu
unit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "$unit" > "$tmp/edgesign.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify "$tmp/edgesign.service" || exit 30
fi
sudo -n install -m 644 "$tmp/edgesign.service" /etc/systemd/system/edgesign.service
sudo -n systemctl daemon-reload
sudo -n systemctl enable --quiet edgesign.service
sudo -n systemctl restart edgesign.service
sleep 3
if ! systemctl is-active --quiet edgesign.service; then
    systemctl status --no-pager --lines=15 edgesign.service || true
    exit 31
fi
echo "service=active"
