#!/bin/sh
# Container entrypoint: checks that DATA_DIR is writable by the user the
# server runs as, then runs the server on every interface at $PORT.
set -eu
: "${DATA_DIR:=/data}" "${PORT:=8080}"
if ! mkdir -p "$DATA_DIR" 2>/dev/null || ! ( : > "$DATA_DIR/.joinedup-write-check" ) 2>/dev/null; then
	uid=$(id -u) gid=$(id -g)
	echo "joinedup: the data directory $DATA_DIR is not writable by uid $uid (gid $gid)." >&2
	echo "  A bind mount keeps its host owner. Either give it to this user on the host:" >&2
	echo "    sudo chown -R $uid:$gid /path/on/host" >&2
	echo "  or run the container as the directory's owner: docker run --user \"\$(id -u):\$(id -g)\" ..." >&2
	exit 1
fi
rm -f "$DATA_DIR/.joinedup-write-check"
exec /usr/local/bin/joinedup -addr ":$PORT" "$@"
