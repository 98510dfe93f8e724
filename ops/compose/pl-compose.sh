#!/bin/sh
# pl-compose ROLE [ARG]: what each service of ops/docker-compose.yml runs inside the provledger
# image (installed as /usr/local/bin/pl-compose).
#
#   setup             the broker users' passwords, keys and genesis in /conf, once (a later
#                     start finds them and exits 0)
#   validator ID      ledger_node validator ID, once the genesis exists
#   follower ID       ledger_node --follow --mode=light as ID
#   register          gw-1, device agent-0 and the agent's runtime policy, retried until the
#                     nodes answer and each is committed (exits 0 when all are)
#   mosquitto         the broker: TLS, passwords, the device ACL (/etc/provledger/mosquitto.*)
#   bridge            mqtt_bridge for gw-1, once the gateway is registered
#   agent             integrity_agent for agent-0 watching /usr/local/bin, once registered
#   devices           device_sim: a probe until the whole path answers, then the load
#
# gRPC is mutual TLS: the certificates are made on the host before `up` (`ledgerctl certs`,
# docs/OPERATIONS.md "Running with compose") and mounted read-only at /certs; each process
# shows its own (vN, f0, gw-1, admin). The broker is TLS too (ssl://, its certificate
# "mosquitto" from the same `ledgerctl certs`): no anonymous clients, each one logs in with a
# password the setup service made (bridge gw-1, agent agent-0, device_sim "devices") and the
# ACL keeps a device to its own topics.
#
# No start order is assumed (Compose starts every service at once, Podman runs no health
# checks): each role waits for the files or answers it needs, polling once a second.
# Settings come from the environment (defaults in ops/docker-compose.yml).
set -eu

CONF=/conf
CERTS=/certs
DATA=/data
GENESIS=$CONF/genesis.json
VALIDATORS="v0 v1 v2 v3"
NODES=${PL_NODES:-v0:7000,v1:7000,v2:7000,v3:7000}
BROKER=${PL_BROKER:-ssl://mosquitto:8883}
GATEWAY=gw-1
AGENT_DEVICE=agent-0
MQTT=$CONF/mqtt                               # the broker's password file, each user's password
BROKER_USERS="$GATEWAY $AGENT_DEVICE devices" # the ACL's (ops/compose/mosquitto.acl)
BROKER_DIR=/broker                            # the broker's own files (mosquitto.conf)
MOSQUITTO_UID=1883                            # the broker's user (docker-compose.yml `user`)
ROLE=${1:-}

say() { echo "pl-compose $ROLE: $*" >&2; }

# tls NAME: the gRPC flags of certificate holder NAME (ledgerctl certs' file names).
tls() { echo "--tls_ca=$CERTS/ca.pem --tls_cert=$CERTS/$1.pem --tls_key=$CERTS/$1.key"; }

# mqtt USER: the broker flags of MQTT user USER (its password made by setup_mqtt).
mqtt() {
  echo "--broker=$BROKER --broker_ca=$CERTS/ca.pem --broker_user=$1" \
    "--broker_password_file=$MQTT/$1.password"
}

# Every ledgerctl call that reaches a node runs as the admin (the setup service's keygen and
# genesis reach none and call `command ledgerctl`).
# shellcheck disable=SC2046  # tls prints a list of flags without spaces
ledgerctl() { command ledgerctl $(tls admin) "$@"; }

# wait_certs NAME...: until the host's certificates (CA and NAME's) are in /certs. A missing
# host folder is mounted as an empty one: say what to run instead of failing obscurely.
wait_certs() {
  for c in ca "$@"; do
    n=0
    until [ -s "$CERTS/$c.pem" ]; do
      [ $((n % 30)) -eq 0 ] && say "waiting for $CERTS/$c.pem: make the certificates on the" \
        "host before up (ledgerctl certs --dir=\$PL_CERTS ..., docs/OPERATIONS.md)"
      n=$((n + 1))
      sleep 1
    done
  done
}

wait_file() {
  n=0
  until [ -s "$1" ]; do
    [ $((n % 30)) -eq 0 ] && say "waiting for $1 (written by the setup service)"
    n=$((n + 1))
    sleep 1
  done
}

# until_ok WHAT CMD...: runs CMD until it exits 0, saying every 30 s what it waits for.
until_ok() {
  what=$1
  shift
  n=0
  until "$@" >/dev/null 2>&1; do
    [ $((n % 30)) -eq 0 ] && say "waiting for $what"
    n=$((n + 1))
    sleep 1
  done
}

# done_or_do QUERY... -- ACTION...: until QUERY succeeds, runs ACTION (a committed registry op),
# so a retried action that committed before its answer was lost is not repeated forever.
done_or_do() {
  query=""
  while [ "$1" != "--" ]; do query="$query $1"; shift; done
  shift
  n=0
  # shellcheck disable=SC2086  # $query holds words without spaces
  until $query >/dev/null 2>&1; do
    if ! "$@" >/dev/null 2>&1; then
      [ $((n % 15)) -eq 0 ] && say "retrying: $* (nodes not answering yet?)"
      n=$((n + 1))
      sleep 2
    fi
  done
}

admin_args() {
  echo "--admin_key=$CONF/admin.key --genesis=$GENESIS --node=$NODES --timeout_ms=5000"
}

# The broker's users: a random password each in $MQTT/USER.password (mode 0600, read by that
# client), made for each user that has none (one added to BROKER_USERS later too); an existing
# one is never changed. Their hashes go to $MQTT/passwd (mosquitto_passwd's format), made again
# whenever a password was made, moved into place last. Apart from the genesis, so that a conf
# volume made before the broker had passwords gets them too.
setup_mqtt() {
  mkdir -p "$MQTT"
  made=""
  for u in $BROKER_USERS; do
    [ -s "$MQTT/$u.password" ] && continue
    # shellcheck disable=SC2046  # the hash and sha256sum's "-"
    set -- $(head -c 32 /dev/urandom | sha256sum)
    printf '%s\n' "$1" >"$MQTT/$u.password.tmp"
    chmod 600 "$MQTT/$u.password.tmp"
    mv "$MQTT/$u.password.tmp" "$MQTT/$u.password"
    made="$made $u"
  done
  [ -z "$made" ] && [ -s "$MQTT/passwd" ] && return 0
  : >"$MQTT/passwd.tmp"
  for u in $BROKER_USERS; do
    read -r pw <"$MQTT/$u.password"
    printf '%s:%s\n' "$u" "$pw" >>"$MQTT/passwd.tmp"
  done
  mosquitto_passwd -U "$MQTT/passwd.tmp"  # in place: plaintext to hashes, no password in argv
  mv "$MQTT/passwd.tmp" "$MQTT/passwd"
  say "made the broker's password file, and a password for each of${made:- none} in $MQTT"
}

# The broker's files in $BROKER_DIR (its own volume, mounted read-only there): its key,
# certificate, the CA and the password file, owned by its user, mode 0600, so that it starts
# as that user and sees nothing else of /conf or /certs. Copied at every setup (certificates
# renewed on the host, users added); the broker reads them when it starts.
setup_broker() {
  wait_certs mosquitto
  install -d -o "$MOSQUITTO_UID" -g "$MOSQUITTO_UID" -m 700 "$BROKER_DIR"
  for f in "$CERTS/ca.pem" "$CERTS/mosquitto.pem" "$CERTS/mosquitto.key" "$MQTT/passwd"; do
    name=${f##*/}
    install -o "$MOSQUITTO_UID" -g "$MOSQUITTO_UID" -m 600 "$f" "$BROKER_DIR/$name.tmp"
    mv "$BROKER_DIR/$name.tmp" "$BROKER_DIR/$name"
  done
}

setup() {
  umask 077
  setup_mqtt
  setup_broker
  if [ -s "$GENESIS" ]; then
    say "found $GENESIS: keys and genesis already made, nothing to do"
    return 0
  fi
  mkdir -p "$CONF/devkeys"
  # --force: a setup killed half-way left some keys behind without a genesis; start over.
  command ledgerctl keygen --force --out="$CONF/admin.key" >/dev/null
  set -- --chain_id="${PL_CHAIN_ID:-compose}" --admin="$CONF/admin.key" --out="$GENESIS.tmp"
  for v in $VALIDATORS; do
    command ledgerctl keygen --force --out="$CONF/$v.key" >/dev/null
    set -- "$@" --validator="$v:$CONF/$v.key:$v:7000"  # the address is the service name
  done
  command ledgerctl keygen --force --out="$CONF/$GATEWAY.key" >/dev/null
  command ledgerctl keygen --force --out="$CONF/devkeys/$AGENT_DEVICE.key" >/dev/null
  command ledgerctl genesis "$@" >&2
  chmod 644 "$GENESIS.tmp"
  mv "$GENESIS.tmp" "$GENESIS"  # last, in one step: the nodes start when it appears
  say "made $GENESIS, keys of $VALIDATORS, admin, $GATEWAY and $AGENT_DEVICE in $CONF"
}

validator() {
  wait_file "$GENESIS"
  wait_certs "$1"
  # shellcheck disable=SC2086,SC2046  # PL_NODE_ARGS and tls's output are lists of flags
  exec ledger_node $(tls "$1") --genesis="$GENESIS" --node_id="$1" --key="$CONF/$1.key" \
    --data_dir="$DATA/chain" --listen=0.0.0.0:7000 ${PL_NODE_ARGS:-}
}

follower() {
  wait_file "$GENESIS"
  wait_certs "$1"
  # shellcheck disable=SC2086,SC2046
  exec ledger_node $(tls "$1") --follow --mode=light --genesis="$GENESIS" --node_id="$1" \
    --data_dir="$DATA/chain" --listen=0.0.0.0:7000 ${PL_FOLLOWER_ARGS:-}
}

# The agent's runtime policy (Keylime's format): the sha256 of every file it watches, the
# same files in every container of the image.
write_policy() {
  {
    printf '{"meta":{"version":1},"excludes":[],"digests":{'
    sep=""
    sha256sum /usr/local/bin/* | while read -r hash path; do
      printf '%s"%s":["%s"]' "$sep" "$path" "$hash"
      sep=","
    done
    printf '}}\n'
  } >"$1"
}

register() {
  wait_file "$GENESIS"
  wait_certs admin
  # shellcheck disable=SC2046  # admin_args is a list of flags
  done_or_do ledgerctl gateways "$GATEWAY" --node="$NODES" --timeout_ms=5000 -- \
    ledgerctl register-gateway --id="$GATEWAY" --key="$CONF/$GATEWAY.key" $(admin_args)
  say "gateway $GATEWAY registered"
  # shellcheck disable=SC2046
  done_or_do ledgerctl devices "$AGENT_DEVICE" --node="$NODES" --timeout_ms=5000 -- \
    ledgerctl register-device --id="$AGENT_DEVICE" --key="$CONF/devkeys/$AGENT_DEVICE.key" \
    $(admin_args)
  if [ ! -s "$CONF/agent-policy.done" ]; then
    write_policy /tmp/agent-policy.json
    # A repeated import registers the next version and a repeated bind changes nothing: both
    # are retried together until they commit.
    # shellcheck disable=SC2046
    until ledgerctl policy import --name=compose-agent --file=/tmp/agent-policy.json \
      $(admin_args) >/dev/null 2>&1 && ledgerctl policy bind --name=compose-agent \
      --device="$AGENT_DEVICE" $(admin_args) >/dev/null 2>&1; do
      say "retrying the agent's policy import and bind"
      sleep 2
    done
    echo bound >"$CONF/agent-policy.done"
  fi
  say "device $AGENT_DEVICE registered, runtime policy compose-agent bound to it"
}

bridge() {
  wait_file "$GENESIS"
  wait_file "$MQTT/$GATEWAY.password"
  wait_certs admin "$GATEWAY"
  until_ok "gateway $GATEWAY to be registered (by the register service)" \
    ledgerctl gateways "$GATEWAY" --node="$NODES" --timeout_ms=3000
  # shellcheck disable=SC2086,SC2046
  exec mqtt_bridge $(tls "$GATEWAY") $(mqtt "$GATEWAY") --gateway_id="$GATEWAY" \
    --gateway_key="$CONF/$GATEWAY.key" --nodes="$NODES" --data_dir="$DATA" ${PL_BRIDGE_ARGS:-}
}

agent() {
  wait_file "$CONF/agent-policy.done"
  wait_file "$MQTT/$AGENT_DEVICE.password"
  wait_certs
  # The bridge reads new policy bindings on its registry refresh (1 s): a report appraised
  # before would be untrusted for want of a policy.
  sleep 3
  pub=$(command ledgerctl pubkey --key="$CONF/$GATEWAY.key" 2>/dev/null)
  # shellcheck disable=SC2046  # mqtt prints a list of flags without spaces
  exec integrity_agent $(mqtt "$AGENT_DEVICE") --device="$AGENT_DEVICE" \
    --key_file="$CONF/devkeys/$AGENT_DEVICE.key" --source=files --watch=/usr/local/bin --state_dir="$DATA" \
    --gateway_id="$GATEWAY" --gateway_pubkey="$pub"
}

devices() {
  wait_file "$GENESIS"
  wait_file "$MQTT/devices.password"
  wait_certs admin
  # device_sim --register submits registry transactions: the admin's certificate.
  sim="$(tls admin) $(mqtt devices) --keys_dir=$CONF/devkeys --genesis=$GENESIS --admin_key=$CONF/admin.key \
    --node=$NODES --gateway_id=$GATEWAY --qos=1 --progress_ms=0"
  # One reading through the whole path (nodes, gateway registered, broker, bridge): retried
  # until it is acknowledged.
  # shellcheck disable=SC2086
  until_ok "one probe reading to be acknowledged (nodes, broker and bridge up)" \
    device_sim $sim --register --devices=1 --device_prefix=probe --mode=mac --count=1 \
    --key_timeout_ms=3000 --ack_timeout_ms=10000
  say "the path answers: publishing ${PL_DEVICES:-4} devices x ${PL_COUNT:-100} readings" \
    "at ${PL_RATE:-10}/s each"
  # shellcheck disable=SC2086
  exec device_sim $sim --register --devices="${PL_DEVICES:-4}" \
    --device_prefix="${PL_DEVICE_PREFIX:-sim}" --mode="${PL_MODE:-mac}" \
    --count="${PL_COUNT:-100}" --rate="${PL_RATE:-10}" --progress_ms=10000 ${PL_SIM_ARGS:-}
}

# Mosquitto runs as its user from the start (docker-compose.yml `user`), with only its own
# files, read-only: the ones setup_broker copied.
mosquitto_role() {
  wait_file "$BROKER_DIR/passwd"
  exec mosquitto -c /etc/provledger/mosquitto.conf
}

case "$ROLE" in
  setup) setup ;;
  validator | follower) [ $# -eq 2 ] || { say "usage: pl-compose $ROLE ID"; exit 2; }; $ROLE "$2" ;;
  register) register ;;
  bridge) bridge ;;
  agent) agent ;;
  devices) devices ;;
  mosquitto) mosquitto_role ;;
  *)
    echo "usage: pl-compose setup|validator ID|follower ID|register|mosquitto|bridge|agent|devices" >&2
    exit 2
    ;;
esac
