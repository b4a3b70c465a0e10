# Report, as key=value lines, what a deploy needs to know about the Pi. Changes nothing.
# Arguments: PYTHON ROOT
py=$1
root=$2
case $root in /*) ;; *) root=$HOME/$root ;; esac
echo "user=$(id -un)"
echo "uid=$(id -u)"
echo "home=$HOME"
echo "root=$root"
echo "machine=$(uname -m)"
if [ -f /etc/os-release ]; then . /etc/os-release; echo "os=${PRETTY_NAME:-unknown}"; fi
if command -v "$py" >/dev/null 2>&1; then
    echo "python=$(command -v "$py")"
    # Pointer size tells a 32-bit userland on a 64-bit kernel (uname says aarch64 there).
    "$py" -c 'import importlib.util as u, platform, struct, sys
print("python_version=%d.%d" % sys.version_info[:2])
print("python_bits=%d" % (8 * struct.calcsize("P")))
print("libc=%s" % "-".join(platform.libc_ver()))
print("venv=%s" % ("yes" if u.find_spec("venv") and u.find_spec("ensurepip") else "no"))' </dev/null
else
    echo "python="
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo "systemd=yes"; else echo "systemd=no"; fi
if command -v sudo >/dev/null 2>&1 && sudo -n true </dev/null >/dev/null 2>&1; then echo "sudo=yes"; else echo "sudo=no"; fi
if command -v rsync >/dev/null 2>&1; then echo "rsync=yes"; else echo "rsync=no"; fi
if [ -L "$root/current" ]; then echo "current=$(basename "$(readlink "$root/current")")"; else echo "current="; fi
exit 0
