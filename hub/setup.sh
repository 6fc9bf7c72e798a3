#!/usr/bin/env bash
# What `make hub` prepares (as root) before it starts JupyterHub with jupyterhub_config.py:
#   1. a local account for every name in the roster (hub/roster.csv), created here;
#   2. nbgrader's exchange, $HUB_DIR/exchange, readable and writable by every user (nbgrader's
#      docs: `chmod ugo+rw`), plus the sticky bit, so that no one can remove what others put there;
#   3. the course's Python environment for every user, $HUB_DIR/env: .venv's interpreter and
#      packages, where every account may run them (.venv's interpreter may live in a private home);
#   4. the instructor's copy of the course, ~<instructor>/<course id>, a clone of this repository
#      that only the instructor can read (source/ holds the solutions and hidden tests).
#   5. matplotlib's font cache in every home (a first plot then prints no notice on stderr).
# Safe to run again: existing accounts, exchange contents and the instructor's copy are kept.
# Settings (environment): HUB_ROSTER, HUB_DIR (default /srv/tf-variables-hub), HUB_HOMES (where
# new accounts' homes go, default /home).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROSTER=${HUB_ROSTER:-$REPO/hub/roster.csv}
HUB_DIR=${HUB_DIR:-/srv/tf-variables-hub}
HOMES=${HUB_HOMES:-/home}
MARK="tf-variables hub account (make hub)"  # the comment field of every account made here
VENV=$REPO/.venv

die() { echo "make hub: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run it as root (sudo make hub): it creates accounts, and JupyterHub starts each user's server as that user"
[ -x "$VENV/bin/python" ] || die "no $VENV: run make first"

# --- 1. accounts ------------------------------------------------------------------------------
instructor=""
users=()
while IFS=, read -r user role _; do
  user=${user//[[:space:]]/}; role=${role//[[:space:]]/}
  [[ -z $user || $user == \#* || $user == username ]] && continue
  [[ $user =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "$ROSTER: '$user' is not a valid name (a-z, 0-9, -)"
  case $role in
    instructor) [ -z "$instructor" ] || die "$ROSTER: more than one instructor"; instructor=$user ;;
    student) ;;
    *) die "$ROSTER: role of $user must be instructor or student, not '$role'" ;;
  esac
  users+=("$user")
done < "$ROSTER"
[ -n "$instructor" ] || die "$ROSTER: no instructor"

mkdir -p "$HOMES"
for user in "${users[@]}"; do
  if entry=$(getent passwd "$user"); then
    # Never take over an account this script did not create: it may be a real person's.
    [ "$(cut -d: -f5 <<<"$entry")" = "$MARK" ] || die "account $user exists and was not created by make hub: rename it in $ROSTER"
  else
    # No password: these accounts log in only through the hub.
    useradd --create-home --base-dir "$HOMES" --shell /bin/bash --user-group --comment "$MARK" "$user"
    echo "created account $user"
  fi
  chmod 700 "$(getent passwd "$user" | cut -d: -f6)"  # no one reads another user's files
done

# --- 2. the exchange --------------------------------------------------------------------------
install -d -m 755 "$HUB_DIR"
install -d -m 1777 "$HUB_DIR/exchange"

# --- 3. the course's environment for every user -----------------------------------------------
# The same interpreter and packages as .venv. When .venv's interpreter lives where other accounts
# cannot go (e.g. pyenv under /root), its installation is copied to $HUB_DIR/python first, and
# the copy told to find its libpython beside it (patchelf); a different Python (even 3.11.2 for
# 3.11.7) is not used: packages can require a newer patch release.
ENV=$HUB_DIR/env
version=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
site=lib/python$version/site-packages
link_or_copy() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }
if [ ! -e "$ENV/.made" ] || [ "$VENV/.installed-stamp" -nt "$ENV/.made" ]; then
  base=$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix)')
  python=$base/bin/python$version
  if ! runuser -u nobody -- "$python" -c 'import sys' 2>/dev/null; then
    echo "copying $base (not readable by other accounts) to $HUB_DIR/python"
    rm -rf "$HUB_DIR/python"
    mkdir -p "$HUB_DIR/python"
    tar -C "$base" --exclude="./$site/*" -cf - . | tar -C "$HUB_DIR/python" -xf -  # not its packages
    python=$HUB_DIR/python/bin/python$version
    command -v patchelf >/dev/null || die "patchelf is missing (sudo make system-deps)"
    patchelf --set-rpath '$ORIGIN/../lib' "$python"
    runuser -u nobody -- "$python" -c 'import sys' || die "$python does not run for other accounts"
  fi
  echo "making $ENV: .venv's packages on $python"
  rm -rf "$ENV.new"
  "$python" -m venv --without-pip "$ENV.new"
  link_or_copy "$VENV/$site/." "$ENV.new/$site/"
  rm -f "$ENV.new/$site"/__editable__*  # this checkout's packages come from the course (below)
  link_or_copy "$VENV/share" "$ENV.new/"
  cp -a "$VENV/etc" "$ENV.new/"  # a copy: jupyterhub_config.py writes into etc/jupyter
  for script in "$VENV"/bin/*; do  # console scripts (jupyter, nbgrader, ...) on the new Python
    name=$(basename "$script")
    [ -e "$ENV.new/bin/$name" ] && continue
    if head -n1 "$script" | grep -q "^#!$VENV/bin/python"; then
      { echo "#!$ENV/bin/python"; tail -n +2 "$script"; } > "$ENV.new/bin/$name"
      chmod 755 "$ENV.new/bin/$name"
    fi
  done
  rm -rf "$ENV"
  mv "$ENV.new" "$ENV"
  touch "$ENV/.made"
fi
chmod 755 "$ENV"

# --- 4. the instructor's copy of the course ---------------------------------------------------
course_id=$("$VENV/bin/python" -c "from traitlets.config.loader import PyFileConfigLoader as L
print(L('nbgrader_config.py', path='$REPO').load_config().CourseDirectory.course_id)")
course=$(getent passwd "$instructor" | cut -d: -f6)/$course_id
if [ ! -d "$course" ]; then
  git clone --quiet --no-hardlinks "$REPO" "$course"
  chown -R "$instructor:" "$course"
  echo "cloned the course for $instructor into $course"
fi
# `python -m autograder` and nbgrader's safe collect (autograder.intake) import the course's own
# packages: the instructor's copy is on every user's path (only the instructor can read it).
echo "$course" > "$ENV/lib/python$version/site-packages/tf_variables_course.pth"

# --- 5. matplotlib's font cache in every home -------------------------------------------------
# matplotlib scans the system's fonts on its first import in a home without a cache and, when that
# takes over 5 s (a busy hub), says so on stderr: a red "Matplotlib is building the font cache" in
# a student's first notebook. Built once here, copied into the homes that lack one.
fonts=$(mktemp -d)
MPLCONFIGDIR=$fonts "$ENV/bin/python" -c "import matplotlib.font_manager"
for user in "${users[@]}"; do
  home=$(getent passwd "$user" | cut -d: -f6)
  if ! compgen -G "$home/.cache/matplotlib/fontlist-*.json" >/dev/null; then
    install -d -o "$user" -g "$user" -m 700 "$home/.cache" "$home/.cache/matplotlib"
    install -o "$user" -g "$user" -m 644 "$fonts"/fontlist-*.json "$home/.cache/matplotlib/"
  fi
done
rm -rf "$fonts"

if [ -n "$(find "$REPO/source" -maxdepth 0 -perm -o=r)" ]; then
  echo "make hub: warning: $REPO/source (solutions, hidden tests) is readable by every account;" \
       "chmod o-rwx $REPO if students can log in to this machine" >&2
fi
