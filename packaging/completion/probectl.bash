# bash completion for probectl: commands, their options, pids of running
# processes where a PID goes.
_probectl() {
    local cur prev words cword
    _init_completion || return

    local commands="attach run list detach status stack stats call help"
    local global_opts="--socket --json --no-autostart --help"
    local trace_opts="--count --duration --args --kind --float"

    case $prev in
        --socket)
            _filedir
            return ;;
        --kind)
            COMPREPLY=($(compgen -W "return entry call" -- "$cur"))
            return ;;
        --count | --duration | --args | -p | --probe)
            return ;;
    esac

    # The command is the first word that is neither an option nor an
    # option's value.
    local i command="" nargs=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket | --count | --duration | --args | --kind | -p | --probe)
                ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=${words[i]}
                else
                    ((nargs++))
                fi ;;
        esac
    done

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    case $command in
        attach)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$trace_opts $global_opts" -- "$cur"))
            elif ((nargs == 0)); then
                _pids
            fi ;;
        run)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-p --probe $trace_opts $global_opts --" -- "$cur"))
            else
                COMPREPLY=($(compgen -c -- "$cur"))
            fi ;;
        detach | stack)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
            elif ((nargs == 0)); then
                _pids
            fi ;;
        call)
            if ((nargs == 0)) && [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "daemon.status process.attach process.detach
                    process.spawn process.resume process.list probe.add probe.remove
                    probe.list events.subscribe events.unsubscribe stack.get stats.get" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
            fi ;;
        help)
            ((nargs == 0)) && COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
        *)
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur")) ;;
    esac
} &&
    complete -F _probectl probectl
