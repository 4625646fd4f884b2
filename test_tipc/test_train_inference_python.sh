#!/bin/bash
# Run one TIPC chain: train -> eval -> export -> Paddle Inference, as a config file describes.
#
#   bash test_tipc/test_train_inference_python.sh test_tipc/configs/MicroNet/MicroNet_M0_train_infer_python.txt MODE
#
# MODE: lite_train_lite_infer | lite_train_whole_infer | whole_train_whole_infer | whole_infer
# (run test_tipc/prepare.sh with the same arguments first). The config is read by line
# position, like PaddleClas's TIPC (see test_tipc/README.md). Every step appends
#   Run successfully with command - <command>!    or    Run failed with command - <command>!
# to test_tipc/output/<model_name>/<MODE>/results_python.log, with its own log next to it.
# A failed step does not stop the chain; the exit status is 1 if any step failed.
set -uo pipefail # no -e: failures are recorded and the chain goes on

if [ $# -ne 2 ]; then
    echo "usage: bash test_tipc/test_train_inference_python.sh CONFIG MODE" >&2
    exit 2
fi
config=$(realpath -m "$1")
mode=$2
cd "$(dirname "$0")/.." || exit 2
root=$PWD

die() { echo "error: $*" >&2; exit 2; }

case $mode in
    lite_train_lite_infer | lite_train_whole_infer | whole_train_whole_infer | whole_infer) ;;
    *) die "unknown MODE '$mode'" ;;
esac
[ -f "$config" ] || die "config not found: $1"
mapfile -t lines < <(sed 's/\r$//; s/[[:space:]]*$//' "$config")
((${#lines[@]} >= 51)) || die "$config: expected the 51+ lines of a TIPC train_infer_python config"
for check in "0 train_params" "22 eval_params" "26 infer_params"; do
    read -r index header <<< "$check"
    [[ ${lines[$index]-} == *"$header"* ]] || die "$config: line $((index + 1)) should be the $header header"
done

key() { echo "${lines[$1]%%:*}"; }   # key INDEX: the text before the first ':' of line INDEX (0-based)
value() { echo "${lines[$1]#*:}"; }  # value INDEX: the text after it
split() { tr '|' ' ' <<< "$1"; }     # split LIST: "a|b" -> "a b"

mode_value() { # mode_value INDEX: "lite_train_lite_infer=2|whole_train_whole_infer=120" -> value for $mode
    local entry
    if [[ $(value "$1") != *=* ]]; then
        value "$1"
        return
    fi
    for entry in $(split "$(value "$1")"); do
        if [ "${entry%%=*}" = "$mode" ]; then echo "${entry#*=}"; fi
    done
}

set_param() { # set_param KEY VALUE: "KEY=VALUE", or nothing when either is null or empty
    if [ "$1" != null ] && [ -n "$2" ] && [ "$2" != null ]; then echo "$1=$2"; fi
}

model_name=$(value 1)
python=$(value 2)
gpu_list=$(value 3)
device_key=$(key 4) device=$(value 4)
[ "$(value 5)" = null ] || die "$config: only '$(key 5):null' is supported"
for use_gpu in $(split "$(value 40)"); do
    [[ $use_gpu == True || $use_gpu == False ]] || die "$config: $(key 40) values must be True or False"
done
epochs=$(mode_value 6)
epochs=${epochs:-2} # PaddleClas's default when the mode has no entry
output_key=$(key 7)
batch_param=$(set_param "$(key 8)" "$(mode_value 8)")
pretrained_key=$(key 9)
pretrained_param=$(set_param "$pretrained_key" "$(value 9)")
train_model_name=$(value 10)
train_param=$(set_param "$(key 12)" "$(value 12)")
trainers=$(value 14)
eval_py=$(value 23)
eval_param=$(set_param "$(key 24)" "$(value 24)")
save_infer_key=$(key 27)
export_weight_key=$(key 28)
infer_model=$(value 36)
infer_export=$(value 37)
inference_py=$(value 39)
use_gpu_key=$(key 40) use_gpu_list=$(value 40)
mkldnn_key=$(key 41) mkldnn_list=$(value 41)
threads_key=$(key 42) threads_list=$(value 42)
infer_batch_key=$(key 43) infer_batch_list=$(value 43)
trt_key=$(key 44) trt_list=$(value 44)
fp16_key=$(key 45) fp16_list=$(value 45)
infer_model_key=$(key 46)
infer_common="$(set_param "$(key 47)" "$(value 47)") $(set_param "$(key 49)" "$(value 49)")"
infer_common+=" $(set_param "$(key 50)" "$(value 50)")"

log_path=$root/test_tipc/output/$model_name/$mode
status_log=$log_path/results_python.log
rm -rf "$log_path"
mkdir -p "$log_path"
failures=0

note() { echo "[note] $*" | tee -a "$status_log"; }

run() { # run LOG COMMAND: run COMMAND (in a subshell) with its output in LOG; record the result
    local cmd result
    cmd="$(sed 's/  */ /g; s/ $//' <<< "$2") > $1 2>&1"
    echo "+ $cmd"
    if (eval "$cmd"); then
        result="Run successfully with command - $cmd!"
    else
        result="Run failed with command - $cmd!"
        failures=$((failures + 1))
        tail -n 15 "$1"
    fi
    echo "$result" | tee -a "$status_log"
}

gpu_count=$("$python" -c "import paddle; print(paddle.device.cuda.device_count())" 2>/dev/null | tail -n 1)
[[ $gpu_count =~ ^[0-9]+$ ]] || die "'$python' cannot import paddle"

infer() { # infer MODEL_DIR GPU_TAG ENV: the prediction grid, run from deploy/ like PaddleClas
    local model_dir=$1 tag=$2 env=$3 use_gpu mkldnn threads bs trt fp16 log common
    common="$(set_param "$infer_model_key" "$model_dir") $infer_common"
    for use_gpu in $(split "$use_gpu_list"); do
        if [ "$use_gpu" = False ]; then
            for mkldnn in $(split "$mkldnn_list"); do
                for threads in $(split "$threads_list"); do
                    for bs in $(split "$infer_batch_list"); do
                        log=$log_path/python_infer_cpu_gpus_${tag}_usemkldnn_${mkldnn}_threads_${threads}_precision_False_batchsize_${bs}.log
                        run "$log" "cd deploy && $python $inference_py ${use_gpu_key}=False ${mkldnn_key}=$mkldnn ${threads_key}=$threads ${infer_batch_key}=$bs ${trt_key}=False ${fp16_key}=False $common"
                    done
                done
            done
        elif ((gpu_count == 0)); then
            note "no GPU: skipping the ${use_gpu_key}=True inference runs"
        else
            for trt in $(split "$trt_list"); do
                for fp16 in $(split "$fp16_list"); do
                    [ "$fp16" = False ] || [ "$trt" = True ] || continue # fp16 runs in TensorRT only
                    for bs in $(split "$infer_batch_list"); do
                        log=$log_path/python_infer_gpu_gpus_${tag}_usetrt_${trt}_precision_${fp16}_batchsize_${bs}.log
                        run "$log" "cd deploy && $env$python $inference_py ${use_gpu_key}=True ${trt_key}=$trt ${fp16_key}=$fp16 ${infer_batch_key}=$bs $common"
                    done
                done
            done
        fi
    done
}

if [ "$mode" = whole_infer ]; then
    model_dir=$infer_model # relative to deploy/
    if [ "$infer_export" = True ]; then
        model_dir=$log_path/inference
        weights=$root/${model_name}_pretrained
        weights_param=$(set_param "$export_weight_key" "$weights")
        if [ ! -f "$weights.pdparams" ]; then
            note "no $weights.pdparams (no network to fetch released weights): exporting randomly initialised weights"
            weights_param=""
        fi
        run "$log_path/export.log" "$python $(value 29) $weights_param $(set_param "$save_infer_key" "$model_dir")"
    fi
    infer "$model_dir" 0 "CUDA_VISIBLE_DEVICES=0 "
    echo "$failures failed step(s); results in $status_log"
    exit $((failures > 0))
fi

for gpu in $(split "$gpu_list"); do
    nproc=$(tr ',' '\n' <<< "$gpu" | wc -l)
    if ((gpu_count == 0)); then
        note "no GPU: gpu_list entry '$gpu' trains on CPU with $nproc process(es)"
        # Paddle's launcher goes into GPU mode whenever CUDA_VISIBLE_DEVICES is set, even to ""
        train_device=cpu env="" launch="env -u CUDA_VISIBLE_DEVICES $python -m paddle.distributed.launch --nproc_per_node $nproc"
    else
        train_device=$device env="CUDA_VISIBLE_DEVICES=${gpu%%,*} " launch="$python -m paddle.distributed.launch --devices=$gpu"
    fi
    for trainer in $(split "$trainers"); do
        # trainer lines 15-18 (norm, pact, fpgm, distill) pair with export lines 29-32
        train_cmd=null
        for i in 15 16 17 18; do
            if [ "$(key $i)" = "$trainer" ]; then train_cmd=$(value $i) export_cmd=$(value $((i + 14))); fi
        done
        if [ "$train_cmd" = null ]; then
            note "trainer '$trainer' has no command in $config: skipped"
            continue
        fi
        save_log=$log_path/${trainer}_gpus_${gpu}_autocast_null_nodes_1
        train_args="$train_cmd ${device_key}=$train_device $(set_param "$output_key" "$save_log")"
        train_args+=" $(set_param "$(key 6)" "$epochs") $pretrained_param $batch_param $train_param"
        if ((nproc > 1)); then
            run "$save_log.log" "$launch --log_dir $save_log/dist_log $train_args"
        else
            run "$save_log.log" "$env$python $train_args"
        fi
        weights=$save_log/$model_name/$train_model_name
        if [ "$eval_py" != null ]; then
            run "${save_log}_eval.log" "$env$python $eval_py $(set_param "$pretrained_key" "$weights") ${device_key}=$train_device $eval_param"
        fi
        if [ "$export_cmd" != null ]; then
            run "${save_log}_export.log" "$python $export_cmd $(set_param "$export_weight_key" "$weights") $(set_param "$save_infer_key" "$save_log")"
            infer "$save_log" "$gpu" "$env"
        fi
    done
done
echo "$failures failed step(s); results in $status_log"
exit $((failures > 0))
