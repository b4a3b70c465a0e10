# Restart the installed service after a rollback, if there is one. Prints service=...
set -eu
if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
    echo "service=no-systemd"; exit 0
fi
if [ ! -f /etc/systemd/system/edgesign.service ]; then
    echo "service=not-installed"; exit 0
fi
sudo -n systemctl restart edgesign.service
sleep 3
if systemctl is-active --quiet edgesign.service; then echo "service=active"; else echo "service=failed"; exit 31; fi
