"""Fuzzing fswatch's NFS decoders and Samba/NFS probe paths with mutations of real replies (issue 9, point 7).

corpus.py reads the replies captured from real nfs-ganesha/rpcbind and smbd (capture.py
re-captures them), mutate.py breaks them, harness.py runs the cases; bench/fuzz runs them at
scale and tests/socket/test_fuzz_corpus.py a bounded share in CI.
"""
