#!/usr/bin/env bash
# deploy/deploy.sh - put the burst demo function on AWS (Terraform in
# deploy/terraform) or on a local stampede-lambda (--local), and drive every
# concurrency scenario against it: reserved, unreserved, provisioned, fresh
# provisioned environments, a burst, the agent fleet, clean-up.
#
# Every AWS call goes through the AWS CLI (`aws lambda ...`); in --local mode
# with --endpoint-url pointing at stampede-lambda, so the same calls are
# proved offline. What a command changes, on AWS and locally, and every exit
# status are in docs/deploy-commands.md.
#
# Local state (recorded concurrency values, pids of the processes this
# script started, their logs) lives in one directory per target:
# $STAMPEDE_DEPLOY_STATE, or ${XDG_STATE_HOME:-$HOME/.local/state}/stampede-deploy/
# aws-FUNCTION (AWS) or local-HOST_PORT-FUNCTION (--local).
# A process is stopped only by the pid recorded there, and only while that
# pid still runs the binary recorded with it.
set -euo pipefail

readonly PROG=deploy.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
readonly REPO_ROOT

readonly DEFAULT_ENDPOINT=http://127.0.0.1:9000
readonly DEFAULT_FUNCTION=stampede-burst-demo
readonly ALIAS=live
# The burst `test` fires, as `stampede demo` does: a POST whose body lets the
# agents hold back the last byte until the start instant.
readonly BURST_BODY='{"burst":1}'
readonly DEFAULT_BURST=100
readonly MAX_BURST=1000000      # ctl_runspec's cap
readonly MAX_CONCURRENCY=100000 # above any account limit; AWS checks the real one
readonly MAX_LOCAL_AGENTS=64
readonly MAX_AWS_AGENTS=100    # deploy/terraform's agent_count limit

# Exit statuses (docs/deploy-commands.md). `test` passes stampede's through.
readonly EXIT_FAILED=1
readonly EXIT_USAGE=2
readonly EXIT_TOOL=3
readonly EXIT_TIMEOUT=4

# Set by parse_args.
LOCAL=0
ENDPOINT=
FUNCTION=$DEFAULT_FUNCTION
ASSUME_YES=0
COMMAND=
ARGS=()
PASSTHROUGH=()

# Set by setup.
STATE_DIR=
TMP_DIR=
TF_DIR=${STAMPEDE_TERRAFORM_DIR:-$SCRIPT_DIR/terraform}

# What is applied so far when a multi-step change stops half-way; printed
# with any error so the user knows the state it left.
STATE_NOTE=

# The region of the CLI's calls on AWS (aws_region), found once.
REGION=

# Set by aws_try: the CLI's stdout and stderr of the last call.
AWS_OUT=
AWS_ERR=

usage() {
    cat <<EOF
Usage: $PROG [--local[=ENDPOINT]] [--function NAME] [--yes] COMMAND [ARGS]

Commands:
  deploy                            create or update the function, version, alias '$ALIAS'
                                    and front doors (AWS: terraform apply)
  update-concurrency N|unreserved   set reserved concurrency to N, or remove it
  setup-provisioned-concurrency N   provisioned concurrency N on alias '$ALIAS' and wait
                                    until READY (0 removes it)
  force-provisioned-cold-start N    publish a new version, move '$ALIAS' to it and wait
                                    until N fresh provisioned environments are READY
  status                            reserved, provisioned, alias version, URLs, agents
  agents up K                       run K load agents (AWS: EC2 instances)
  agents down                       stop them
  test [-n N] [-- RUN_OPTIONS...]   fire a burst of N requests (default $DEFAULT_BURST) at the
                                    function URL with 'stampede run' and print its summary
  destroy                           remove everything deploy and agents created

Options:
  --local[=ENDPOINT]  act on stampede-lambda at ENDPOINT (default $DEFAULT_ENDPOINT)
                      through the AWS CLI instead of AWS; no Terraform
  --function NAME     the function (default $DEFAULT_FUNCTION)
  -y, --yes           do not ask before 'terraform destroy'
  -h, --help          this text

Exit status: 0 done, 1 a step failed (AWS's message is shown), 2 bad usage,
3 a required tool is missing, 4 timed out waiting; 'test' exits with the
status of 'stampede run'. See docs/deploy-commands.md.
EOF
}

usage_error() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    usage >&2
    exit "$EXIT_USAGE"
}

# die STATUS MESSAGE: the message, what a half-done change left behind, exit.
die() {
    local status=$1
    shift
    printf '%s: %s\n' "$PROG" "$*" >&2
    if [[ -n $STATE_NOTE ]]; then
        printf '%s: state left: %s\n' "$PROG" "$STATE_NOTE" >&2
    fi
    exit "$status"
}

say() {
    printf '%s\n' "$*"
}

on_signal() {
    trap - INT TERM
    die 130 "interrupted"
}

cleanup() {
    if [[ -n $TMP_DIR ]]; then
        rm -rf -- "$TMP_DIR"
    fi
}

# ---------------------------------------------------------------- arguments

is_count() { # VALUE MAX [MIN]: a decimal integer MIN..MAX (MIN 0), no sign or leading zero
    [[ $1 =~ ^(0|[1-9][0-9]{0,8})$ ]] && ((10#$1 <= $2 && 10#$1 >= ${3:-0}))
}

parse_args() {
    while (($#)); do
        case $1 in
        --local) LOCAL=1 ENDPOINT=$DEFAULT_ENDPOINT ;;
        --local=*)
            LOCAL=1
            ENDPOINT=${1#--local=}
            ENDPOINT=${ENDPOINT%/}
            [[ $ENDPOINT =~ ^http://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$ ]] ||
                usage_error "--local: ENDPOINT must be http://HOST:PORT, not '${1#--local=}'"
            ;;
        --function)
            (($# >= 2)) || usage_error "--function needs a NAME"
            FUNCTION=$2
            shift
            ;;
        --function=*) FUNCTION=${1#--function=} ;;
        -y | --yes) ASSUME_YES=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            PASSTHROUGH=("$@")
            break
            ;;
        -n)
            # `test -n N`: the only option a command takes.
            (($# >= 2)) || usage_error "-n needs a number of requests"
            ARGS+=("$1" "$2")
            shift
            ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            if [[ -z $COMMAND ]]; then
                COMMAND=$1
            else
                ARGS+=("$1")
            fi
            ;;
        esac
        shift
    done
    [[ -n $COMMAND ]] || usage_error "no command given"
    # Lambda's function name rule (letters, digits, '-' and '_', 1-64).
    [[ $FUNCTION =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
        usage_error "--function: '$FUNCTION' is not a Lambda function name (1-64 of A-Z a-z 0-9 - _)"
    if ((${#PASSTHROUGH[@]})) && [[ $COMMAND != test ]]; then
        usage_error "only 'test' takes options after '--'"
    fi
    check_command_args
}

check_command_args() {
    local n=${#ARGS[@]}
    case $COMMAND in
    deploy | status | destroy)
        ((n == 0)) || usage_error "$COMMAND takes no arguments"
        ;;
    update-concurrency)
        ((n == 1)) || usage_error "update-concurrency needs N or 'unreserved'"
        [[ ${ARGS[0]} == unreserved ]] || is_count "${ARGS[0]}" "$MAX_CONCURRENCY" ||
            usage_error "update-concurrency: '${ARGS[0]}' is not a number from 0 to $MAX_CONCURRENCY or 'unreserved'"
        ;;
    setup-provisioned-concurrency)
        ((n == 1)) || usage_error "setup-provisioned-concurrency needs N"
        is_count "${ARGS[0]}" "$MAX_CONCURRENCY" ||
            usage_error "setup-provisioned-concurrency: '${ARGS[0]}' is not a number from 0 to $MAX_CONCURRENCY"
        ;;
    force-provisioned-cold-start)
        ((n == 1)) || usage_error "force-provisioned-cold-start needs N"
        is_count "${ARGS[0]}" "$MAX_CONCURRENCY" 1 ||
            usage_error "force-provisioned-cold-start: '${ARGS[0]}' is not a number from 1 to $MAX_CONCURRENCY"
        ;;
    agents)
        local max=$MAX_AWS_AGENTS
        if ((LOCAL)); then
            max=$MAX_LOCAL_AGENTS
        fi
        if ((n == 2)) && [[ ${ARGS[0]} == up ]]; then
            is_count "${ARGS[1]}" "$max" 1 ||
                usage_error "agents up: '${ARGS[1]}' is not a number from 1 to $max"
        elif ! { ((n == 1)) && [[ ${ARGS[0]} == down ]]; }; then
            usage_error "agents needs 'up K' or 'down'"
        fi
        ;;
    test)
        if ((n == 0)); then
            ARGS=(-n "$DEFAULT_BURST")
        elif ((n != 2)) || [[ ${ARGS[0]} != -n ]]; then
            usage_error "test takes only -n N (and stampede run options after '--')"
        fi
        is_count "${ARGS[1]}" "$MAX_BURST" 1 ||
            usage_error "test -n: '${ARGS[1]}' is not a number from 1 to $MAX_BURST"
        ;;
    *) usage_error "unknown command '$COMMAND'" ;;
    esac
    if [[ $COMMAND != test ]] && ((n >= 1)) && [[ ${ARGS[0]} == -n ]]; then
        usage_error "-n is an option of 'test' only"
    fi
}

# ---------------------------------------------------------------- tools

need_tool() { # NAME HOW-TO-INSTALL
    command -v "$1" >/dev/null 2>&1 ||
        die "$EXIT_TOOL" "$1 is required but not found on PATH; $2"
}

need_aws() {
    need_tool aws "install the AWS CLI (Debian: apt-get install awscli; or https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)"
}

need_jq() {
    need_tool jq "install it (Debian: apt-get install jq)"
}

need_terraform() {
    need_tool terraform "install Terraform (https://developer.hashicorp.com/terraform/install); --local needs none"
}

# stampede_bin NAME: the path of one of stampede's programs, from
# $STAMPEDE_BIN, PATH, or this repository's build/bin, in that order.
stampede_bin() {
    local name=$1 path
    if [[ -n ${STAMPEDE_BIN:-} ]]; then
        path=$STAMPEDE_BIN/$name
        [[ -x $path ]] && { printf '%s\n' "$path"; return 0; }
        die "$EXIT_TOOL" "$name is not in STAMPEDE_BIN ($STAMPEDE_BIN); build it with 'make build' or fix STAMPEDE_BIN"
    fi
    if [[ $name != bootstrap ]] && path=$(command -v "$name" 2>/dev/null); then
        printf '%s\n' "$path"
        return 0
    fi
    path=$REPO_ROOT/build/bin/$name
    [[ -x $path ]] && { printf '%s\n' "$path"; return 0; }
    die "$EXIT_TOOL" "$name is required but not found (STAMPEDE_BIN, PATH, $REPO_ROOT/build/bin); build it with 'make build' or set STAMPEDE_BIN"
}

# ---------------------------------------------------------------- state

setup_state() {
    local base=${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/stampede-deploy
    if [[ -n ${STAMPEDE_DEPLOY_STATE:-} ]]; then
        STATE_DIR=$STAMPEDE_DEPLOY_STATE
    elif ((LOCAL)); then
        local where=${ENDPOINT#http://}
        STATE_DIR=$base/local-${where//[^A-Za-z0-9.-]/_}-$FUNCTION
    else
        STATE_DIR=$base/aws-$FUNCTION
    fi
    mkdir -p -- "$STATE_DIR/pids" "$STATE_DIR/logs"
    TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stampede-deploy.XXXXXX")
}

# state_get KEY: the recorded value, or nothing.
state_get() {
    local key value
    [[ -f $STATE_DIR/state ]] || return 0
    while IFS='=' read -r key value; do
        if [[ $key == "$1" ]]; then
            printf '%s\n' "$value"
            return 0
        fi
    done <"$STATE_DIR/state"
}

# state_set KEY VALUE: records it (an empty VALUE forgets KEY).
state_set() {
    local key value tmp=$STATE_DIR/state.new
    : >"$tmp"
    if [[ -f $STATE_DIR/state ]]; then
        while IFS='=' read -r key value; do
            [[ $key == "$1" ]] || printf '%s=%s\n' "$key" "$value" >>"$tmp"
        done <"$STATE_DIR/state"
    fi
    [[ -z $2 ]] || printf '%s=%s\n' "$1" "$2" >>"$tmp"
    mv -f -- "$tmp" "$STATE_DIR/state"
}

# ---------------------------------------------------------------- processes

# pid_alive NAME: prints the pid recorded as NAME if that process still runs
# the binary recorded with it (a reused pid or a zombie does not count).
pid_alive() {
    local file=$STATE_DIR/pids/$1 pid exe now
    [[ -f $file ]] || return 1
    read -r pid exe <"$file" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    now=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ ${now% (deleted)} == "$exe" ]] || return 1
    printf '%s\n' "$pid"
}

# start_daemon NAME BINARY ARGS...: runs BINARY in its own session, output
# to logs/NAME.log, and records its pid as NAME. Returns once the job is
# BINARY (it has exec'd) or has ended: until then /proc/PID/exe is bash's
# or setsid's, and pid_alive would take a starting daemon for a dead one.
start_daemon() {
    local name=$1 bin pid now i=0
    bin=$(readlink -f -- "$2")
    shift 2
    # The log exists before wait_log reads it, whenever the job gets to run.
    : >"$STATE_DIR/logs/$name.log"
    setsid "$bin" "$@" </dev/null >>"$STATE_DIR/logs/$name.log" 2>&1 &
    pid=$!
    printf '%s %s\n' "$pid" "$bin" >"$STATE_DIR/pids/$name"
    while now=$(readlink "/proc/$pid/exe" 2>/dev/null) && [[ ${now% (deleted)} != "$bin" ]] &&
        ((i++ < 200)); do
        sleep 0.05
    done
}

# stop_daemon NAME: SIGTERM to the recorded pid, SIGKILL after 10 s.
stop_daemon() {
    local name=$1 pid i
    if pid=$(pid_alive "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            pid_alive "$name" >/dev/null || break
            sleep 0.1
        done
        if pid_alive "$name" >/dev/null; then
            say "$name (pid $pid) did not stop within 10 s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f -- "$STATE_DIR/pids/$name"
}

# wait_log NAME PREFIX SECONDS: the first line of logs/NAME.log starting
# with PREFIX; fails when the process exits or the time is up.
wait_log() {
    local name=$1 prefix=$2 limit=$3 line start=$SECONDS
    while ((SECONDS - start <= limit)); do
        while IFS= read -r line; do
            if [[ $line == "$prefix"* ]]; then
                printf '%s\n' "$line"
                return 0
            fi
        done <"$STATE_DIR/logs/$name.log"
        if ! pid_alive "$name" >/dev/null; then
            tail -n 20 -- "$STATE_DIR/logs/$name.log" >&2 || true
            die "$EXIT_FAILED" "$name exited before it was ready (log: $STATE_DIR/logs/$name.log)"
        fi
        sleep 0.1
    done
    die "$EXIT_TIMEOUT" "$name not ready after $limit s (log: $STATE_DIR/logs/$name.log)"
}

# ---------------------------------------------------------------- AWS CLI

setup_aws() {
    need_aws
    export AWS_PAGER=""
    if ((LOCAL)); then
        # The emulator checks no signature: never sign for it with real
        # credentials. One attempt: the CLI would retry throttles.
        export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
        export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
        export AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
        unset AWS_PROFILE AWS_SESSION_TOKEN
    fi
}

# aws_try ARGS...: `aws lambda ARGS` (at --local's endpoint); sets AWS_OUT
# and AWS_ERR, returns the CLI's status.
aws_try() {
    local where=() status=0
    if ((LOCAL)); then
        where=(--endpoint-url "$ENDPOINT")
    else
        [[ -n $REGION ]] || REGION=$(aws_region)
        where=(--region "$REGION")
    fi
    AWS_OUT=$(aws lambda "$@" "${where[@]}" --output json 2>"$TMP_DIR/aws.err") || status=$?
    AWS_ERR=$(<"$TMP_DIR/aws.err")
    # The CLI starts its message with an empty line.
    AWS_ERR=${AWS_ERR#"${AWS_ERR%%[![:space:]]*}"}
    return "$status"
}

# aws_do WHAT ARGS...: aws_try that must succeed; otherwise says WHAT failed
# with AWS's own message, and exits 1.
aws_do() {
    local what=$1
    shift
    aws_try "$@" || die "$EXIT_FAILED" "$what failed: ${AWS_ERR:-the AWS CLI exited with an error and no message}"
}

# The region of the CLI's calls on AWS: AWS_REGION (or AWS_DEFAULT_REGION),
# which deploy also hands to Terraform; else the region Terraform deployed
# to (from the alias ARN it outputs); else Terraform's default.
aws_region() {
    local arn
    if [[ -n ${AWS_REGION:-${AWS_DEFAULT_REGION:-}} ]]; then
        printf '%s\n' "${AWS_REGION:-$AWS_DEFAULT_REGION}"
        return 0
    fi
    arn=$(tf_output alias_arn)
    if [[ $arn =~ ^arn:aws[a-z-]*:lambda:([a-z0-9-]+): ]]; then
        printf '%s\n' "${BASH_REMATCH[1]}"
    else
        printf '%s\n' "${TF_VAR_region:-us-east-1}"
    fi
}

aws_error_is() { # TYPE: the last error was AWS's TYPE
    [[ $AWS_ERR == *"($1)"* ]]
}

json_get() { # JQ-FILTER: applied to AWS_OUT (an empty answer is {}), raw output
    local doc=${AWS_OUT:-'{}'}
    jq -r "$1" <<<"$doc"
}

# ---------------------------------------------------------------- Terraform

tf() {
    terraform -chdir="$TF_DIR" "$@"
}

tf_output() { # NAME: a Terraform output, or nothing when there is none
    command -v terraform >/dev/null 2>&1 || return 0
    tf output -raw "$1" 2>/dev/null || true
}

# The -var arguments of an apply: the values deploy.sh recorded, so an apply
# never reverts what update-concurrency, setup-provisioned-concurrency and
# agents set. Every other variable comes from Terraform's own sources
# (deploy/terraform/terraform.tfvars, TF_VAR_name), which -var would override.
tf_vars() {
    local reserved provisioned agents zip
    TF_VARS=(-var "function_name=$FUNCTION")
    reserved=$(state_get reserved)
    provisioned=$(state_get provisioned)
    agents=$(state_get agent_count)
    [[ -z $reserved ]] || TF_VARS+=(-var "reserved_concurrency=${reserved/unreserved/-1}")
    [[ -z $provisioned ]] || TF_VARS+=(-var "provisioned_concurrency=$provisioned")
    [[ -z $agents ]] || TF_VARS+=(-var "agent_count=$agents")
    # The CLI's region is Terraform's: both follow AWS_REGION when it is set.
    [[ -z ${AWS_REGION:-${AWS_DEFAULT_REGION:-}} ]] ||
        TF_VARS+=(-var "region=${AWS_REGION:-$AWS_DEFAULT_REGION}")
    zip=$(function_zip)
    [[ -z $zip ]] || TF_VARS+=(-var "function_zip=$zip")
}

# The function's zip for -var function_zip: $STAMPEDE_FUNCTION_ZIP; nothing
# when `make package` built build/package/stampede-function.zip (Terraform's
# default); else the bootstrap binary zipped here, executable bit kept.
function_zip() {
    if [[ -n ${STAMPEDE_FUNCTION_ZIP:-} ]]; then
        [[ -f $STAMPEDE_FUNCTION_ZIP ]] || die "$EXIT_FAILED" "STAMPEDE_FUNCTION_ZIP: no file $STAMPEDE_FUNCTION_ZIP"
        readlink -f -- "$STAMPEDE_FUNCTION_ZIP"
        return 0
    fi
    [[ ! -f $REPO_ROOT/build/package/stampede-function.zip ]] || return 0
    need_tool zip "install it (Debian: apt-get install zip)"
    local bootstrap zipfile=$STATE_DIR/function.zip
    bootstrap=$(stampede_bin bootstrap)
    mkdir -p -- "$TMP_DIR/zip"
    cp -- "$bootstrap" "$TMP_DIR/zip/bootstrap"
    chmod 0755 "$TMP_DIR/zip/bootstrap"
    rm -f -- "$zipfile"
    (cd "$TMP_DIR/zip" && zip -q -X "$zipfile" bootstrap) ||
        die "$EXIT_FAILED" "cannot zip $bootstrap into $zipfile"
    printf '%s\n' "$zipfile"
}

tf_apply() { # WHAT [EXTRA -var ...]
    local what=$1
    shift
    need_terraform
    [[ -d $TF_DIR ]] || die "$EXIT_FAILED" "no Terraform configuration in $TF_DIR"
    if [[ ! -d $TF_DIR/.terraform ]]; then
        tf init -input=false || die "$EXIT_FAILED" "terraform init failed (above)"
    fi
    tf_vars
    tf apply -input=false -auto-approve "${TF_VARS[@]}" "$@" ||
        die "$EXIT_FAILED" "$what: terraform apply failed (above); Terraform keeps what it applied in its state: run 'status', then '$PROG deploy' again"
}

# ---------------------------------------------------------------- the target

# URLs of the three front doors of alias $ALIAS, one "door URL" line each.
door_urls() {
    if ((LOCAL)); then
        printf 'function_url %s/url/%s:%s/\n' "$ENDPOINT" "$FUNCTION" "$ALIAS"
        printf 'http_api_url %s/httpapi/%s:%s/\n' "$ENDPOINT" "$FUNCTION" "$ALIAS"
        printf 'rest_api_url %s/restapi/%s:%s/\n' "$ENDPOINT" "$FUNCTION" "$ALIAS"
    else
        local name
        for name in function_url http_api_url rest_api_url; do
            printf '%s %s\n' "$name" "$(tf_output "$name")"
        done
    fi
}

door_url() { # NAME
    local name url
    while read -r name url; do
        if [[ $name == "$1" ]]; then
            printf '%s\n' "$url"
            return 0
        fi
    done < <(door_urls)
}

endpoint_is_loopback() {
    [[ $ENDPOINT =~ ^http://(127\.[0-9.]+|localhost|\[::1\]): ]]
}

# Local mode: the emulator answers and serves $FUNCTION. When nothing
# listens on a loopback ENDPOINT and START is 1, starts stampede-lambda there
# serving the demo function (stampede-lambda has no CreateFunction: a
# function exists only if it was named on its command line).
ensure_emulator() {
    local start=$1 code
    need_tool curl "install it (Debian: apt-get install curl)"
    # GetFunctionConfiguration straight over HTTP (the emulator checks no
    # signature): one curl instead of one more AWS CLI start-up per command.
    if ! code=$(function_http_status); then
        if ((start)) && endpoint_is_loopback; then
            local lambda bootstrap listen=${ENDPOINT#http://}
            lambda=$(stampede_bin stampede-lambda)
            bootstrap=$(stampede_bin bootstrap)
            say "starting stampede-lambda on $listen serving $FUNCTION"
            start_daemon emulator "$lambda" --listen "$listen" --function "$FUNCTION=$bootstrap"
            wait_log emulator "stampede-lambda listening on " 30 >/dev/null
            code=$(function_http_status) || die "$EXIT_FAILED" "stampede-lambda started but does not answer at $ENDPOINT"
        else
            die "$EXIT_FAILED" "nothing answers at $ENDPOINT: start stampede-lambda there (stampede-lambda --listen ${ENDPOINT#http://} --function $FUNCTION=PATH/bootstrap), or run '$PROG --local${ENDPOINT:+=$ENDPOINT} deploy'"
        fi
    fi
    case $code in
    200) ;;
    404) die "$EXIT_FAILED" "the emulator at $ENDPOINT does not serve $FUNCTION, and it cannot create functions (no CreateFunction): restart it with --function $FUNCTION=PATH/bootstrap, or stop it and let '$PROG --local=$ENDPOINT deploy' start one" ;;
    *) die "$EXIT_FAILED" "reading $FUNCTION at $ENDPOINT failed: HTTP status $code" ;;
    esac
}

# The HTTP status of GetFunctionConfiguration at the local endpoint; fails
# when nothing answers.
function_http_status() {
    curl -s -o /dev/null --max-time 5 -w '%{http_code}' \
        "$ENDPOINT/2015-03-31/functions/$FUNCTION/configuration"
}

# The version alias $ALIAS points to, or nothing when there is no alias.
alias_version() {
    if aws_try get-alias --function-name "$FUNCTION" --name "$ALIAS"; then
        json_get .FunctionVersion
        return 0
    fi
    aws_error_is ResourceNotFoundException || die "$EXIT_FAILED" "reading alias $ALIAS failed: $AWS_ERR"
}

need_alias() {
    local version
    version=$(alias_version)
    [[ -n $version ]] || die "$EXIT_FAILED" "$FUNCTION has no alias '$ALIAS': run '$PROG$(mode_flag) deploy' first"
    printf '%s\n' "$version"
}

# The global options that name this target again, for the hints we print.
mode_flag() {
    if ((LOCAL)); then
        printf ' --local=%s' "$ENDPOINT"
    fi
    if [[ $FUNCTION != "$DEFAULT_FUNCTION" ]]; then
        printf ' --function %s' "$FUNCTION"
    fi
}

# Publishes $LATEST (AWS returns the newest version when nothing changed)
# and points $ALIAS at it; prints the version.
publish_and_alias() {
    local version current
    aws_do "publishing a version of $FUNCTION" publish-version --function-name "$FUNCTION"
    version=$(json_get .Version)
    current=$(alias_version)
    if [[ -z $current ]]; then
        aws_do "creating alias $ALIAS" create-alias --function-name "$FUNCTION" \
            --name "$ALIAS" --function-version "$version"
    elif [[ $current != "$version" ]]; then
        STATE_NOTE="version $version of $FUNCTION is published; alias $ALIAS still points to version $current"
        aws_do "moving alias $ALIAS to version $version" update-alias \
            --function-name "$FUNCTION" --name "$ALIAS" --function-version "$version"
        STATE_NOTE=
    fi
    printf '%s\n' "$version"
}

# ---------------------------------------------------------------- provisioned

# provisioned_line: the config on $ALIAS as one line, "none" when there is
# none. Sets PC_STATUS, PC_REQUESTED, PC_ALLOCATED, PC_AVAILABLE, PC_REASON.
read_provisioned() {
    PC_STATUS=none PC_REQUESTED=0 PC_ALLOCATED=0 PC_AVAILABLE=0 PC_REASON=
    if aws_try get-provisioned-concurrency-config --function-name "$FUNCTION" --qualifier "$ALIAS"; then
        PC_STATUS=$(json_get '.Status // "UNKNOWN"')
        PC_REQUESTED=$(json_get '.RequestedProvisionedConcurrentExecutions // 0')
        PC_ALLOCATED=$(json_get '.AllocatedProvisionedConcurrentExecutions // 0')
        PC_AVAILABLE=$(json_get '.AvailableProvisionedConcurrentExecutions // 0')
        PC_REASON=$(json_get '.StatusReason // ""')
        return 0
    fi
    aws_error_is ProvisionedConcurrencyConfigNotFoundException && return 0
    # An alias that does not exist has no config either.
    aws_error_is ResourceNotFoundException && return 0
    die "$EXIT_FAILED" "reading provisioned concurrency of $FUNCTION:$ALIAS failed: $AWS_ERR"
}

# wait_ready N [SETTLE]: polls the config on $ALIAS until READY with N
# allocated, saying each change; FAILED or the time limit end the script.
# With SETTLE, a READY counts only once a status other than READY was seen
# or SETTLE seconds have passed (the config of an alias that just moved may
# still show its old version's READY).
wait_ready() {
    local want=$1 settle=${2:-0} moved=0 limit start=$SECONDS last='' now interval
    if ((LOCAL)); then
        limit=${STAMPEDE_DEPLOY_TIMEOUT:-60} interval=0.2
    else
        limit=${STAMPEDE_DEPLOY_TIMEOUT:-900} interval=5
    fi
    is_count "$limit" 86400 || die "$EXIT_USAGE" "STAMPEDE_DEPLOY_TIMEOUT: '$limit' is not a number of seconds"
    while :; do
        read_provisioned
        now="$PC_STATUS, allocated $PC_ALLOCATED, available $PC_AVAILABLE of $PC_REQUESTED"
        if [[ $now != "$last" ]]; then
            say "provisioned concurrency on $ALIAS: $now ($((SECONDS - start)) s)"
            last=$now
        fi
        case $PC_STATUS in
        READY)
            if ((PC_REQUESTED == want && PC_ALLOCATED == want)) &&
                ((settle == 0 || moved || SECONDS - start >= settle)); then
                return 0
            fi
            ;;
        IN_PROGRESS)
            moved=1
            ;;
        FAILED)
            die "$EXIT_FAILED" "provisioned concurrency on $FUNCTION:$ALIAS FAILED: ${PC_REASON:-no reason given}; the config stays on $ALIAS: remove it with '$PROG$(mode_flag) setup-provisioned-concurrency 0'"
            ;;
        none)
            die "$EXIT_FAILED" "provisioned concurrency on $FUNCTION:$ALIAS disappeared while waiting for READY"
            ;;
        esac
        if ((SECONDS - start >= limit)); then
            die "$EXIT_TIMEOUT" "provisioned concurrency on $FUNCTION:$ALIAS is still $now after $limit s; the config stays in place and Lambda goes on allocating: check with '$PROG$(mode_flag) status' (STAMPEDE_DEPLOY_TIMEOUT sets the wait)"
        fi
        sleep "$interval"
    done
}

# put_provisioned N: sets N on $ALIAS (0 removes it) and waits for READY.
put_provisioned() {
    local n=$1
    if ((n == 0)); then
        if aws_try delete-provisioned-concurrency-config --function-name "$FUNCTION" --qualifier "$ALIAS"; then
            say "provisioned concurrency on $ALIAS removed"
        elif aws_error_is ProvisionedConcurrencyConfigNotFoundException; then
            say "provisioned concurrency on $ALIAS: none"
        else
            die "$EXIT_FAILED" "removing provisioned concurrency from $FUNCTION:$ALIAS failed: $AWS_ERR"
        fi
        state_set provisioned 0
        return 0
    fi
    aws_do "setting provisioned concurrency $n on $FUNCTION:$ALIAS" \
        put-provisioned-concurrency-config --function-name "$FUNCTION" \
        --qualifier "$ALIAS" --provisioned-concurrent-executions "$n"
    # Recorded now: the config exists whatever the wait gives.
    state_set provisioned "$n"
    wait_ready "$n"
}

# ---------------------------------------------------------------- commands

cmd_deploy() {
    local version provisioned reserved
    if ((LOCAL)); then
        need_jq
        ensure_emulator 1
        version=$(publish_and_alias)
        say "deployed $FUNCTION: version $version, alias $ALIAS -> $version at $ENDPOINT"
        # Put back what was recorded: the emulator keeps nothing across a restart.
        reserved=$(state_get reserved)
        if [[ -n $reserved ]]; then
            apply_reserved "$reserved"
        fi
        provisioned=$(state_get provisioned)
        if [[ -n $provisioned ]] && ((provisioned > 0)); then
            put_provisioned "$provisioned"
        fi
    else
        need_jq
        tf_apply deploy
    fi
    cmd_status
}

apply_reserved() { # N|unreserved
    if [[ $1 == unreserved ]]; then
        aws_do "removing reserved concurrency of $FUNCTION" delete-function-concurrency --function-name "$FUNCTION"
        say "reserved concurrency of $FUNCTION: unreserved"
    else
        aws_do "setting reserved concurrency $1 on $FUNCTION" put-function-concurrency \
            --function-name "$FUNCTION" --reserved-concurrent-executions "$1"
        say "reserved concurrency of $FUNCTION: $1"
    fi
}

cmd_update_concurrency() {
    local value=${ARGS[0]}
    if ((LOCAL)); then
        ensure_emulator 0
    fi
    apply_reserved "$value"
    state_set reserved "$value"
}

cmd_setup_provisioned() {
    local n=${ARGS[0]}
    if ((LOCAL)); then
        ensure_emulator 0
    fi
    need_jq
    need_alias >/dev/null
    put_provisioned "$n"
}

# Fresh provisioned environments. AWS never recycles a READY provisioned
# environment on request, but a provisioned config belongs to the version its
# alias points to: moving the alias to a new version makes Lambda allocate
# new environments for that version (and free the old ones). Publishing
# needs a change, so $LATEST gets STAMPEDE_COLD_START=<time> in its
# environment (the other variables are kept).
cmd_force_cold_start() {
    local n=${ARGS[0]} old version vars stamp
    if ((LOCAL)); then
        ensure_emulator 0
    fi
    need_jq
    old=$(need_alias)
    aws_do "reading the configuration of $FUNCTION" get-function-configuration --function-name "$FUNCTION"
    stamp=$(date -u +%Y%m%dT%H%M%S.%NZ)
    vars=$(jq -c --arg stamp "$stamp" \
        '{Variables: ((.Environment.Variables // {}) + {STAMPEDE_COLD_START: $stamp})}' <<<"$AWS_OUT")
    aws_do "updating the environment of $FUNCTION" update-function-configuration \
        --function-name "$FUNCTION" --environment "$vars"
    STATE_NOTE="\$LATEST of $FUNCTION has STAMPEDE_COLD_START=$stamp; alias $ALIAS still on version $old, its provisioned environments unchanged"
    aws_do "waiting for the update of $FUNCTION" wait function-updated --function-name "$FUNCTION"
    aws_do "publishing a version of $FUNCTION" publish-version --function-name "$FUNCTION"
    version=$(json_get .Version)
    [[ $version != "$old" ]] ||
        die "$EXIT_FAILED" "publishing gave version $version, the one $ALIAS already points to: no fresh environments"
    STATE_NOTE="version $version of $FUNCTION is published; alias $ALIAS still on version $old, its provisioned environments unchanged"
    aws_do "moving alias $ALIAS to version $version" update-alias --function-name "$FUNCTION" \
        --name "$ALIAS" --function-version "$version"
    say "alias $ALIAS: version $old -> $version"
    STATE_NOTE="alias $ALIAS now points to version $version; its provisioned concurrency is being allocated for that version (see '$PROG$(mode_flag) status')"
    # The config follows its alias: Lambda allocates it anew for the new
    # version. Only a different N needs a Put (one during that allocation
    # could be refused as a conflict).
    read_provisioned
    if [[ $PC_STATUS != none ]] && ((PC_REQUESTED == n)); then
        state_set provisioned "$n"
        if ((LOCAL)); then
            wait_ready "$n"
        else
            wait_ready "$n" 30
        fi
    else
        put_provisioned "$n"
    fi
    STATE_NOTE=
    say "fresh provisioned environments: $n on version $version"
}

cmd_status() {
    local reserved version name url pid
    need_jq
    if ((LOCAL)); then
        ensure_emulator 0
        if pid=$(pid_alive emulator); then
            say "target: stampede-lambda at $ENDPOINT (started by $PROG, pid $pid)"
        else
            say "target: stampede-lambda at $ENDPOINT"
        fi
    else
        need_terraform
        [[ -n $REGION ]] || REGION=$(aws_region)
        say "target: AWS region $REGION"
    fi
    say "function: $FUNCTION"
    aws_do "reading the reserved concurrency of $FUNCTION" get-function-concurrency --function-name "$FUNCTION"
    reserved=$(json_get '.ReservedConcurrentExecutions // "unreserved"')
    say "reserved concurrency: $reserved"
    version=$(alias_version)
    say "alias $ALIAS: ${version:+version }${version:-none}"
    read_provisioned
    if [[ $PC_STATUS == none ]]; then
        say "provisioned concurrency: none"
    else
        say "provisioned concurrency: $PC_STATUS, requested $PC_REQUESTED, allocated $PC_ALLOCATED, available $PC_AVAILABLE${PC_REASON:+ ($PC_REASON)}"
    fi
    while read -r name url; do
        case $name in
        function_url) name="function URL" ;;
        http_api_url) name="HTTP API URL" ;;
        rest_api_url) name="REST API URL" ;;
        esac
        say "$name: ${url:-unknown (no Terraform output: run deploy)}"
    done < <(door_urls)
    agents_status
}

# ---------------------------------------------------------------- agents

# The controller whose /api/status tells the connected agents: the local
# one `agents up` started, or STAMPEDE_CONTROLLER_URL (with STAMPEDE_TOKEN).
# On AWS, the controller host's dashboard_url (reachable from allowed_cidrs).
controller_url() {
    local url
    if [[ -n ${STAMPEDE_CONTROLLER_URL:-} ]]; then
        printf '%s\n' "${STAMPEDE_CONTROLLER_URL%/}"
    elif ((LOCAL)); then
        if pid_alive controller >/dev/null; then
            state_get controller_http
        fi
    else
        url=$(tf_output dashboard_url)
        printf '%s\n' "${url%/}"
    fi
}

# The ids of the agents connected to the controller at URL, one a line.
connected_agents() {
    local url=$1 auth=()
    need_tool curl "install it (Debian: apt-get install curl)"
    [[ -z ${STAMPEDE_TOKEN:-} ]] || auth=(-H "Authorization: Bearer $STAMPEDE_TOKEN")
    curl -sf --max-time 5 "${auth[@]}" "$url/api/status" | jq -r '.agents[].id' | sort
}

local_agent_names() {
    local file
    for file in "$STATE_DIR"/pids/agent-*; do
        [[ -e $file ]] && printf '%s\n' "${file##*/}"
    done
    return 0
}

agents_status() {
    local url names=() name pid running=() ids
    if ((LOCAL)); then
        mapfile -t names < <(local_agent_names)
        for name in "${names[@]}"; do
            if pid=$(pid_alive "$name"); then
                running+=("${name#agent-} (pid $pid)")
            fi
        done
        if ((${#running[@]} == 0 && ${#names[@]} == 0)); then
            say "agents running: none"
        elif ((${#running[@]} == ${#names[@]})); then
            say "agents running: ${#running[@]}: ${running[*]}"
        else
            say "agents running: ${#running[@]} of the ${#names[@]} started${running[*]:+: ${running[*]}} (the others exited; logs in $STATE_DIR/logs)"
        fi
    else
        local count endpoint
        count=$(state_get agent_count)
        endpoint=$(tf_output controller_endpoint)
        say "agents on EC2: ${count:-0}"
        say "controller endpoint: ${endpoint:-none}"
    fi
    url=$(controller_url)
    if [[ -z $url ]]; then
        say "agents connected: unknown (no controller; set STAMPEDE_CONTROLLER_URL)"
    elif ids=$(connected_agents "$url"); then
        mapfile -t names <<<"$ids"
        [[ -n $ids ]] || names=()
        say "agents connected to $url: ${#names[@]}${names[*]:+: ${names[*]}}"
    else
        say "agents connected to $url: unknown (its /api/status did not answer)"
    fi
}

cmd_agents_local_up() {
    local k=$1 agent serve controller http endpoint host line i keys=$STATE_DIR/controller/keys
    agent=$(stampede_bin stampede-agent)
    serve=$(stampede_bin stampede)
    need_jq
    need_tool curl "install it (Debian: apt-get install curl)"
    cmd_agents_local_down quiet
    host=${ENDPOINT#http://}
    host=${host%:*}
    host=${host#[}
    host=${host%]}
    mkdir -p -- "$keys/agents" "$STATE_DIR/agents"
    start_daemon controller "$serve" serve --listen 'tcp://127.0.0.1:*' --http 127.0.0.1:0 \
        --db "$STATE_DIR/controller/stampede.db" --keys "$keys" \
        --target "$(door_url function_url)"
    line=$(wait_log controller "stampede serve: agents " 30)
    # "stampede serve: agents tcp://127.0.0.1:PORT http http://127.0.0.1:PORT"
    read -r _ _ _ endpoint _ http <<<"$line"
    state_set controller_endpoint "$endpoint"
    state_set controller_http "$http"
    say "controller: agents $endpoint, dashboard $http (pid $(pid_alive controller))"
    for ((i = 1; i <= k; i++)); do
        # The agent's key pair is made here and never moves; enrolment is
        # copying its public half into the controller's keys/agents/.
        "$agent" --keygen "$STATE_DIR/agents/local-$i.key" >/dev/null ||
            die "$EXIT_FAILED" "stampede-agent --keygen failed"
        cp -- "$STATE_DIR/agents/local-$i.key" "$keys/agents/local-$i.key"
        start_daemon "agent-local-$i" "$agent" --controller "$endpoint" --id "local-$i" \
            --server-key "$keys/controller.key" --key "$STATE_DIR/agents/local-$i.key" \
            --allow "$host"
    done
    controller=$http
    local start=$SECONDS count=0
    while ((SECONDS - start <= 30)); do
        count=$(connected_agents "$controller" | grep -c . || true)
        ((count == k)) && break
        sleep 0.2
    done
    ((count == k)) || die "$EXIT_TIMEOUT" "only $count of $k agents connected within 30 s (logs: $STATE_DIR/logs/)"
    state_set agent_count "$k"
    say "agents up: $k connected to $controller"
}

cmd_agents_local_down() {
    local name names=()
    mapfile -t names < <(local_agent_names)
    for name in "${names[@]}"; do
        stop_daemon "$name"
    done
    stop_daemon controller
    state_set agent_count ""
    state_set controller_endpoint ""
    state_set controller_http ""
    [[ ${1:-} == quiet ]] || say "agents down"
}

cmd_agents() {
    if ((LOCAL)); then
        if [[ ${ARGS[0]} == up ]]; then
            ensure_emulator 0
            cmd_agents_local_up "${ARGS[1]}"
        else
            cmd_agents_local_down
        fi
        return 0
    fi
    local k=0 endpoint
    [[ ${ARGS[0]} == down ]] || k=${ARGS[1]}
    STATE_NOTE="agent_count recorded as $k; Terraform's state tells what exists"
    state_set agent_count "$k"
    tf_apply "agents ${ARGS[*]}"
    STATE_NOTE=
    endpoint=$(tf_output controller_endpoint)
    say "agents on EC2: $k (controller ${endpoint:-none})"
}

# ---------------------------------------------------------------- test

cmd_test() {
    local n=${ARGS[1]} stampede url status=0
    stampede=$(stampede_bin stampede)
    if ((LOCAL)); then
        ensure_emulator 0
        need_alias >/dev/null
    else
        need_terraform
    fi
    url=$(door_url function_url)
    [[ -n $url ]] || die "$EXIT_FAILED" "no function URL (Terraform output function_url): run '$PROG deploy' first"
    say "burst: $n requests at $url"
    "$stampede" run --url "$url" -n "$n" --local-agents 4 --method POST \
        --data "$BURST_BODY" --header 'Content-Type: application/json' \
        --db "$STATE_DIR/stampede.db" --keys "$STATE_DIR/run-keys" \
        "${PASSTHROUGH[@]}" || status=$?
    exit "$status"
}

# ---------------------------------------------------------------- destroy

cmd_destroy() {
    if ((LOCAL)); then
        cmd_agents_local_down quiet
        if pid_alive emulator >/dev/null; then
            # It was started by deploy: stopping it drops every version,
            # alias and setting it held.
            stop_daemon emulator
        elif [[ $(function_http_status || true) == 200 ]]; then
            need_jq
            put_provisioned 0
            apply_reserved unreserved
            if aws_try delete-alias --function-name "$FUNCTION" --name "$ALIAS"; then
                say "alias $ALIAS deleted"
            elif ! aws_error_is ResourceNotFoundException; then
                die "$EXIT_FAILED" "deleting alias $ALIAS failed: $AWS_ERR"
            fi
            say "$FUNCTION stays in the emulator at $ENDPOINT with its published versions (stampede-lambda has no DeleteFunction; they go when it stops)"
        fi
        rm -rf -- "$STATE_DIR"
        say "destroyed the local deployment of $FUNCTION"
        return 0
    fi
    need_terraform
    local approve=() deployment
    deployment=$(tf_output deployment)
    [[ -n $REGION ]] || REGION=$(aws_region)
    tf_vars
    if ((ASSUME_YES)); then
        approve=(-auto-approve)
    fi
    tf destroy -input=false "${approve[@]}" "${TF_VARS[@]}" ||
        die "$EXIT_FAILED" "terraform destroy failed (above); what it did not remove is still in its state: run '$PROG destroy' again"
    rm -rf -- "$STATE_DIR"
    say "terraform destroyed the AWS deployment of $FUNCTION"
    [[ -n $deployment ]] || deployment=${TF_VAR_deployment:-stampede-demo}
    sweep_check "$deployment"
}

# sweep_check DEPLOYMENT: fails, naming them, when resources tagged
# stampede:deployment=DEPLOYMENT are still listed a minute after destroy
# (the tagging API lags behind deletions, so it is asked again meanwhile).
sweep_check() {
    local deployment=$1 left start=$SECONDS
    while :; do
        left=$(aws resourcegroupstaggingapi get-resources --region "$REGION" \
            --tag-filters "Key=stampede:deployment,Values=$deployment" \
            --query 'ResourceTagMappingList[].ResourceARN' --output text 2>"$TMP_DIR/aws.err") ||
            die "$EXIT_FAILED" "listing what is left under the tag stampede:deployment=$deployment failed: $(<"$TMP_DIR/aws.err")"
        left=${left//[[:space:]]/ }
        left=${left## }
        if [[ -z ${left// /} || $left == None ]]; then
            say "nothing tagged stampede:deployment=$deployment is left in $REGION"
            return 0
        fi
        ((SECONDS - start < 60)) || break
        sleep 10
    done
    die "$EXIT_FAILED" "still tagged stampede:deployment=$deployment in $REGION after destroy (made outside Terraform, or its state was lost; delete them by hand): $left"
}

main() {
    # Keys, pids and logs of a deployment are for this user only.
    umask 077
    parse_args "$@"
    trap cleanup EXIT
    trap on_signal INT TERM
    setup_state
    case $COMMAND in
    deploy | update-concurrency | setup-provisioned-concurrency | \
        force-provisioned-cold-start | status | destroy)
        setup_aws
        ;;
    test | agents)
        if ((LOCAL)); then
            setup_aws
        fi
        ;;
    esac
    case $COMMAND in
    deploy) cmd_deploy ;;
    update-concurrency) cmd_update_concurrency ;;
    setup-provisioned-concurrency) cmd_setup_provisioned ;;
    force-provisioned-cold-start) cmd_force_cold_start ;;
    status) cmd_status ;;
    agents) cmd_agents ;;
    test) cmd_test ;;
    destroy) cmd_destroy ;;
    esac
}

main "$@"
