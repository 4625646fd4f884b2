#!/bin/bash
# Prepare the data of one TIPC chain, without any download.
#
#   bash test_tipc/prepare.sh test_tipc/configs/MicroNet/MicroNet_M0_train_infer_python.txt MODE
#
# MODE: lite_train_lite_infer | lite_train_whole_infer | whole_infer | whole_train_whole_infer
#
# Builds ./dataset/ILSVRC2012/ in ImageNet list format from scikit-learn's bundled digits
# (tools/prepare_quick_start_data.py, upscaled to 224 px, cached in test_tipc/data/):
#   train/*.png, val/*.png, train_list.txt ("train/0001.png 3"), val_list.txt
# Digit labels 0-9 are valid ImageNet class ids, so the 1000-class configs run unchanged.
# Lite training uses 64 train images, lite inference 32 val images; whole modes use all
# 1437 train + 360 val images. dataset/ILSVRC2012/.tipc_digits marks the folder as written by
# this script (and for which subset); a dataset/ILSVRC2012 without it is never touched.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: bash test_tipc/prepare.sh CONFIG MODE" >&2
    exit 2
fi
config=$(realpath -m "$1")
mode=$2
cd "$(dirname "$0")/.."
lite_train=64
lite_val=32
data=dataset/ILSVRC2012
marker=$data/.tipc_digits
cache=test_tipc/data/digits_224

value() { # value LINE_NUMBER: the text after the first ':' of that line of the config
    sed -n "${1}p" "$config" | tr -d '\r' | cut -d: -f2- | xargs
}

case $mode in
    lite_train_lite_infer) n_train=$lite_train n_val=$lite_val ;;
    lite_train_whole_infer) n_train=$lite_train n_val=all ;;
    whole_infer | whole_train_whole_infer) n_train=all n_val=all ;;
    *) echo "unknown MODE '$mode' (lite_train_lite_infer, lite_train_whole_infer," \
            "whole_infer, whole_train_whole_infer)" >&2
       exit 2 ;;
esac
[ -f "$config" ] || { echo "config not found: $1" >&2; exit 2; }
python=$(value 3)
model_name=$(value 2)

subset() { # subset SPLIT COUNT: copy COUNT (or all) images of the cache's SPLIT list into $data/SPLIT/
    local split=$1 count=$2 list
    list=$(cat "$cache/${split}_list.txt")
    if [ "$count" != all ]; then
        list=$(head -n "$count" <<< "$list")
    fi
    awk -v root="$cache/" '{print root $1}' <<< "$list" | xargs cp -t "$data/$split/"
    awk -v dir="$split/" '{n = split($1, p, "/"); print dir p[n], $2}' <<< "$list" \
        > "$data/${split}_list.txt"
    echo "$data/${split}_list.txt: $(wc -l < "$data/${split}_list.txt") images"
}

prepared="train=$n_train val=$n_val"
if [ "$(cat "$marker" 2> /dev/null)" = "$prepared" ]; then
    echo "$data already holds the digits set for $mode ($prepared): nothing to do"
else
    if [ -e "$data" ] || [ -L "$data" ]; then
        if [ ! -f "$marker" ]; then
            echo "$data exists and was not written by test_tipc/prepare.sh (no $marker):" \
                 "refusing to replace it. Move it away to run TIPC." >&2
            exit 1
        fi
        rm -rf "$data"
    fi
    "$python" tools/prepare_quick_start_data.py --out "$cache" --size 224
    mkdir -p "$data/train" "$data/val"
    echo incomplete > "$marker" # from here on, $data is ours to replace
    subset train "$n_train"
    subset val "$n_val"
    echo "$prepared" > "$marker"
fi

if [ "$mode" = whole_infer ] && [ ! -f "${model_name}_pretrained.pdparams" ]; then
    echo "whole_infer: no ${model_name}_pretrained.pdparams here and no network to fetch released" \
         "weights, so the chain exports randomly initialised weights. To test real weights, convert" \
         "the authors' checkpoint: $python tools/convert_weights.py --arch $model_name" \
         "--src <checkpoint.pth> --dst ${model_name}_pretrained.pdparams"
fi
