#!/usr/bin/env bash
# A real Apache Kafka broker for cairn's integration tests: one KRaft node (broker and
# controller in one JVM) on 127.0.0.1, from Maven Central's org.apache.kafka:kafka_2.13.
# See docs/kafka-tests.md.
#
#   kafka.sh fetch                       resolve the broker's jars with Maven (once; cached)
#   kafka.sh start [--stop-with-parent] DIR
#                                        format DIR/data, start a broker, wait until it answers,
#                                        print its bootstrap address 127.0.0.1:PORT
#   kafka.sh stop DIR                    SIGTERM, then SIGKILL after CAIRN_KAFKA_STOP_TIMEOUT s
#   kafka.sh restart DIR                 stop, then start again on the same ports and data
#   kafka.sh logs DIR [LINES]            the tail of the broker's logs
#   kafka.sh create-topic DIR NAME PARTITIONS [config=value...]
#
# DIR holds everything of one broker: server.properties, data/ (log.dirs), logs/ (server.log,
# kafka.out = the JVM's stdout and stderr), kafka.pid, ports, and bootstrap (the address, written
# once the broker answers; removed when it stops). Two DIRs never share ports, so several builds
# can run their tests at once.
#
# --stop-with-parent (the CTest fixture's start): a watchdog stops the broker once the process
# that ran `kafka.sh start` (CTest) is gone, so that a test run killed before its cleanup leaves no
# broker behind. `stop` ends the watchdog; `restart` keeps it.
#
# Environment: CAIRN_KAFKA_HOME (jar cache, default ~/.cache/cairn/kafka-VERSION),
# CAIRN_KAFKA_JAVA (the java to run; default $JAVA_HOME/bin/java, else Debian's Java 17, else
# java on PATH), CAIRN_KAFKA_START_TIMEOUT (s, default 60), CAIRN_KAFKA_STOP_TIMEOUT (s, default 20).
set -euo pipefail

readonly KAFKA_VERSION=3.9.2  # keep in step with kafka.version in pom.xml
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
kafka_home=${CAIRN_KAFKA_HOME:-${XDG_CACHE_HOME:-$home/.cache}/cairn/kafka-$KAFKA_VERSION}
libs=$kafka_home/libs
start_timeout=${CAIRN_KAFKA_START_TIMEOUT:-60}
stop_timeout=${CAIRN_KAFKA_STOP_TIMEOUT:-20}

say() { echo "kafka.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}
usage() {
  sed -n '6,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- the jars ---------------------------------------------------------------------------------

fetch() {
  local want
  want="$KAFKA_VERSION $(sha256sum <"$here/pom.xml" | cut -d' ' -f1)"
  if [[ -f $libs/.complete && $(<"$libs/.complete") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "fetch: mvn not found (tools/setup/install-deps.sh installs maven)"
  mkdir -p "$kafka_home"
  # One fetch at a time per cache; the lock's descriptor stays in this subshell, so no broker
  # started later inherits it.
  (
    flock 9
    if [[ -f $libs/.complete && $(<"$libs/.complete") == "$want" ]]; then
      exit 0
    fi
    say "fetching Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central into $libs"
    local tmp
    tmp=$(mktemp -d "$kafka_home/libs.XXXXXX")
    if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" >"$kafka_home/fetch.log" 2>&1; then
      tail -n 40 "$kafka_home/fetch.log" >&2
      rm -rf "$tmp"
      die "fetch: Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full log: $kafka_home/fetch.log)"
    fi
    if [[ ! -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]]; then
      rm -rf "$tmp"
      die "fetch: Maven finished but kafka_2.13-$KAFKA_VERSION.jar is not among the resolved jars"
    fi
    echo "$want" >"$tmp/.complete"
    rm -rf "$libs"
    mv "$tmp" "$libs"
    say "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1))"
  ) 9>"$kafka_home/.fetch.lock"
}

# --- Java -------------------------------------------------------------------------------------

find_java() {
  local candidate
  if [[ -n ${CAIRN_KAFKA_JAVA:-} ]]; then
    java=$CAIRN_KAFKA_JAVA
  elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    java=$JAVA_HOME/bin/java
  else
    java=
    for candidate in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
      if [[ -x $candidate ]]; then
        java=$candidate
        break
      fi
    done
    if [[ -z $java ]]; then
      java=$(command -v java) || die "java not found (tools/setup/install-deps.sh installs openjdk-17-jre-headless)"
    fi
  fi
  local version
  version=$({ "$java" -version 2>&1 || true; } | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
  [[ -n $version && $version -ge 17 ]] ||
    die "$java is Java ${version:-of an unknown version}; Kafka $KAFKA_VERSION's broker needs Java 17 or newer"
}

# A short-lived Kafka tool (StorageTool, TopicCommand): the client JIT only and a serial GC start
# fastest on two cores.
run_tool() {  # run_tool LOG4J_PROPERTIES MAIN_CLASS ARGS...
  local log4j=$1
  shift
  "$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$log4j" -cp "$libs/*" "$@"
}

# --- one broker's directory -------------------------------------------------------------------

abs_dir() {  # abs_dir DIR [create]: the absolute path of DIR
  [[ ${2:-} == create ]] && mkdir -p "$1"
  [[ -d $1 ]] || die "no directory $1"
  (cd "$1" && pwd)
}

# The pid in DIR/kafka.pid if that process is alive and is this DIR's broker (a zombie or a
# recycled pid is not).
broker_pid() {  # broker_pid DIR
  local dir=$1 pid
  [[ -f $dir/kafka.pid ]] || return 1
  pid=$(<"$dir/kafka.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $dir/server.properties" || return 1
  echo "$pid"
}

# Two TCP ports that nothing listens on, outside the kernel's ephemeral range (which outgoing
# connections, the tests' own included, draw from), chosen at random so that brokers started
# at the same time do not pick the same ones.
free_ports() {
  python3 - <<'EOF'
import random, socket
low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
ranges = [r for r in ((20000, min(low, 32768)), (max(high + 1, 61000), 65536)) if r[1] - r[0] > 100]
ports = []
while len(ports) < 2:
    port = random.randrange(*random.choice(ranges))
    if port in ports:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    ports.append(port)
print(*ports)
EOF
}

write_config() {  # write_config DIR PORT CONTROLLER_PORT
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<EOF
# cairn's test broker, written by tools/kafka/kafka.sh: one KRaft node, broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data

# No topic appears because a client touched it: the bridge must create the topics it writes to
# (or expect them to exist and say so), and the tests create theirs (librdkafka's admin API or
# kafka.sh create-topic), as against a production cluster.
auto.create.topics.enable=false

# One node: every replication factor and ISR is 1. The internal topics get one partition each,
# so that the first consumer group and the first transaction do not wait for 50 partitions.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
# A consumer group's first member is assigned at once, not after 3 s.
group.initial.rebalance.delay.ms=0

# Small files: tests write little, and a restarted broker recovers fast. Segments stay larger
# than message.max.bytes (left at its default, 1 MiB, as on a production broker).
log.segment.bytes=4194304
log.index.size.max.bytes=1048576
offsets.topic.segment.bytes=4194304
transaction.state.log.segment.bytes=4194304
log.cleaner.dedupe.buffer.size=16777216

# Fewer threads on a small test machine.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
EOF
  cat >"$dir/log4j.properties" <<EOF
# The broker's log4j (reload4j) configuration, written by tools/kafka/kafka.sh.
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.FileAppender
log4j.appender.server.File=$dir/logs/server.log
log4j.appender.server.Append=true
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
EOF
  cat >"$dir/tools-log4j.properties" <<'EOF'
# Kafka's command-line tools (StorageTool, TopicCommand) log warnings to stderr.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

print_logs() {  # print_logs DIR [LINES]
  local dir=$1 lines=${2:-40} file
  for file in "$dir/logs/storage-format.log" "$dir/logs/kafka.out" "$dir/logs/server.log"; do
    if [[ -s $file ]]; then
      echo "---- last $lines lines of $file"
      tail -n "$lines" "$file"
    fi
  done
  echo "---- (all of the broker's logs: $dir/logs)"
}

# Starts the JVM in its own session, with every descriptor redirected, so that the caller (a
# CTest fixture) returns at once and nothing it waits on stays open.
launch() {  # launch DIR
  local dir=$1
  rm -f "$dir/bootstrap"
  echo "==== $(date '+%F %T') kafka.sh starts the broker" >>"$dir/logs/kafka.out"
  (
    cd "$dir"
    # shellcheck disable=SC2016  # $$, $0 and $@ are the inner shell's: it writes its pid, then becomes java
    exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$dir/kafka.pid" \
      "$java" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent \
      -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" -Dlog4j.configuration="file:$dir/log4j.properties" \
      -cp "$libs/*" kafka.Kafka "$dir/server.properties"
  ) </dev/null >>"$dir/logs/kafka.out" 2>&1 &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $dir/kafka.pid ]] && return 0
    sleep 0.05
  done
  die "the broker's JVM did not start ($java)"
}

# Kafka answers a metadata request, naming itself as broker 1, only once it is registered with
# its controller and unfenced: from then on it takes produce, fetch and admin requests.
answers() {  # answers ADDRESS
  timeout 10 kcat -b "$1" -L -J -m 2 -X log_level=0 2>/dev/null | grep -q '"brokers":\[{"id":1,'
}

# wait_ready DIR: 0 once the broker answers; 1 if it exited (BROKER_EXIT_REASON says why) or
# did not answer in time (then it has been killed).
wait_ready() {
  local dir=$1 addr=$2 deadline=$((SECONDS + start_timeout))
  while :; do
    if ! broker_pid "$dir" >/dev/null; then
      BROKER_EXIT_REASON="the broker exited during startup"
      return 1
    fi
    if answers "$addr"; then
      echo "$addr" >"$dir/bootstrap"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      BROKER_EXIT_REASON="the broker did not answer on $addr within ${start_timeout}s"
      stop_broker "$dir" >/dev/null 2>&1 || true
      return 1
    fi
    sleep 0.25
  done
}

# watch DIR OWNER: the watchdog of --stop-with-parent, in its own session. It lasts while
# DIR/owner names OWNER, and stops the broker when OWNER has exited.
watch() {
  local dir=$1 owner=$2
  while [[ $(cat "$dir/owner" 2>/dev/null) == "$owner" ]]; do
    if ! kill -0 "$owner" 2>/dev/null; then
      say "$(date '+%F %T') watchdog: process $owner, which started the broker, has exited: stopping it"
      rm -f "$dir/owner"
      stop_broker "$dir" || true
      return 0
    fi
    sleep 2
  done
}

start() {  # start [--stop-with-parent] DIR
  local dir owner=
  if [[ $1 == --stop-with-parent ]]; then
    owner=$PPID
    shift
  fi
  if (($# != 1)) || [[ $1 == -* ]]; then usage; fi
  dir=$(abs_dir "$1" create)
  command -v kcat >/dev/null || die "kcat not found (tools/setup/install-deps.sh installs it): it is how kafka.sh sees that the broker answers"
  command -v python3 >/dev/null || die "python3 not found: it picks the broker's ports"
  if broker_pid "$dir" >/dev/null; then
    say "a broker from an earlier run still runs in $dir: stopping it first"
    stop_broker "$dir" >&2 || true
  fi
  fetch
  find_java
  rm -rf "$dir/data" "$dir/logs"
  rm -f "$dir/bootstrap" "$dir/kafka.pid" "$dir/ports" "$dir/owner"
  mkdir -p "$dir/data" "$dir/logs"
  if [[ -n $owner ]]; then
    echo "$owner" >"$dir/owner"
    setsid bash "$here/kafka.sh" watch "$dir" "$owner" </dev/null >>"$dir/logs/watchdog.out" 2>&1 &
  fi

  local port cport cluster_id attempt
  read -r port cport < <(free_ports)
  write_config "$dir" "$port" "$cport"
  if ! cluster_id=$(run_tool "$dir/tools-log4j.properties" kafka.tools.StorageTool random-uuid 2>"$dir/logs/storage-format.log"); then
    print_logs "$dir" >&2
    die "kafka.tools.StorageTool random-uuid failed"
  fi
  if ! run_tool "$dir/tools-log4j.properties" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$dir/server.properties" >>"$dir/logs/storage-format.log" 2>&1; then
    print_logs "$dir" >&2
    die "kafka.tools.StorageTool format failed"
  fi

  # A port can be taken between choosing it and the broker binding it: then choose again.
  for attempt in 1 2 3; do
    echo "$port $cport" >"$dir/ports"
    launch "$dir"
    if wait_ready "$dir" "127.0.0.1:$port"; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ((attempt < 3)) && grep -qs 'Address already in use' "$dir/logs/server.log" "$dir/logs/kafka.out"; then
      say "port $port or $cport was taken meanwhile: trying other ports"
      read -r port cport < <(free_ports)
      write_config "$dir" "$port" "$cport"
      mv "$dir/logs/server.log" "$dir/logs/server.log.bind-failed-$attempt" 2>/dev/null || true
      continue
    fi
    break
  done
  rm -f "$dir/owner"
  print_logs "$dir" >&2
  die "no Kafka broker: $BROKER_EXIT_REASON (java: $java, jars: $libs)"
}

# stop_broker DIR: 0 if the broker stopped (or none was started); 1 if it had died already.
stop_broker() {
  local dir=$1 pid
  if ! pid=$(broker_pid "$dir"); then
    rm -f "$dir/bootstrap"
    if [[ -f $dir/kafka.pid ]]; then
      rm -f "$dir/kafka.pid"
      say "the broker of $dir was no longer running: it died after it started"
      return 1
    fi
    say "no broker runs in $dir"
    return 0
  fi
  rm -f "$dir/bootstrap"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + stop_timeout))
  while broker_pid "$dir" >/dev/null; do
    if ((SECONDS >= deadline)); then
      say "the broker (pid $pid) did not stop within ${stop_timeout}s of SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$dir/kafka.pid"
  return 0
}

stop() {  # stop DIR
  local dir
  dir=$(abs_dir "$1")
  rm -f "$dir/owner"
  if ! stop_broker "$dir"; then
    print_logs "$dir" >&2
    exit 1
  fi
  say "stopped; logs kept in $dir/logs"
}

restart() {  # restart DIR: the same ports and data
  local dir port cport
  dir=$(abs_dir "$1")
  [[ -f $dir/ports && -f $dir/data/meta.properties ]] || die "restart: $dir holds no broker that kafka.sh start made"
  read -r port cport <"$dir/ports"
  stop_broker "$dir" >&2 || true
  find_java
  command -v kcat >/dev/null || die "kcat not found (tools/setup/install-deps.sh installs it)"
  launch "$dir"
  if ! wait_ready "$dir" "127.0.0.1:$port"; then
    print_logs "$dir" >&2
    die "restart: $BROKER_EXIT_REASON"
  fi
  echo "127.0.0.1:$port"
}

create_topic() {  # create_topic DIR NAME PARTITIONS [config=value...]
  local dir name=$2 partitions=$3 addr
  dir=$(abs_dir "$1")
  shift 3
  [[ -s $dir/bootstrap ]] || die "create-topic: no broker answers in $dir (kafka.sh start $dir)"
  addr=$(<"$dir/bootstrap")
  find_java
  local args=(--bootstrap-server "$addr" --create --topic "$name" --partitions "$partitions" --replication-factor 1)
  local config
  for config in "$@"; do
    args+=(--config "$config")
  done
  run_tool "$dir/tools-log4j.properties" org.apache.kafka.tools.TopicCommand "${args[@]}" >&2 ||
    die "create-topic: kafka-topics could not create $name on $addr"
}

case ${1:-} in
  fetch) (($# == 1)) || usage; fetch ;;
  start) (($# == 2 || $# == 3)) || usage; start "${@:2}" ;;
  stop) (($# == 2)) || usage; stop "$2" ;;
  restart) (($# == 2)) || usage; restart "$2" ;;
  logs) (($# == 2 || $# == 3)) || usage; print_logs "$(abs_dir "$2")" "${3:-50}" ;;
  watch) (($# == 3)) || usage; watch "$2" "$3" ;;
  create-topic) (($# >= 4)) || usage; create_topic "${@:2}" ;;
  *) usage ;;
esac
