#!/usr/bin/env bash
# Waits until every API answers through the gateway (api-loader's check).
source "$(dirname "$0")/lib.sh"
wait_apis
