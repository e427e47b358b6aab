#!/usr/bin/env bash
echo "STABLE_GIT_COMMIT deadbeef"
echo "STABLE_GIT_TREE_STATE clean"
echo "STABLE_GIT_BRANCH main"
