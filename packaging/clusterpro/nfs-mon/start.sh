#!/bin/sh
#***********************************************************************
#*                              start.sh                               *
#***********************************************************************
# CLUSTERPRO EXEC resource "nfs-mon": watch NFS with clp_nfsmon.
# The guide's template (CLUSTERPRO File Server Monitoring Option, 10.4.1),
# with the same command line: clp_nfsmon now runs the fswatch-nfs@ID unit.
# Start script, asynchronous (非同期): it runs until the watch fails or is
# stopped; a PID monitor resource on this EXEC resource acts on its end.
# Edit the lines marked EDIT (修正箇所). CLUSTERPRO sets CLP_EVENT, CLP_DISK
# and CLP_SERVER; the script always exits 0, as the guide's does.

# clp_nfsmon is installed in /usr/sbin, which must be on the PATH (guide 7.1).
PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH

if [ "$CLP_EVENT" = "START" ]
then
    if [ "$CLP_DISK" = "SUCCESS" ]
    then
        echo "NORMAL1"
        if [ "$CLP_SERVER" = "HOME" ]
        then
            echo "NORMAL2"
        else
            echo "ON_OTHER1"
        fi
        echo "clp_nfsmon start"
        #
        # 共有ディレクトリ名を適切な値に修正します。
        # EDIT: replace XXXX with the exported directory, as in /etc/exports.
        #       Add -a IP for a floating IP, -n PORT for a fixed NFS port, -i/-c/-r
        #       for the interval, retries and timeout. nfswatch is the watch's
        #       identifier: unique on this server, the same in stop.sh.
        #
        clp_nfsmon nfswatch -d XXXX
    else
        echo "ERROR_DISK from START"
    fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
    if [ "$CLP_DISK" = "SUCCESS" ]
    then
        echo "FAILOVER1"
        if [ "$CLP_SERVER" = "HOME" ]
        then
            echo "FAILOVER2"
        else
            echo "ON_OTHER2"
        fi
        echo "clp_nfsmon start"
        #
        # 共有ディレクトリ名を適切な値に修正します。
        # EDIT: replace XXXX with the exported directory, as in /etc/exports.
        #       Add -a IP for a floating IP, -n PORT for a fixed NFS port, -i/-c/-r
        #       for the interval, retries and timeout. nfswatch is the watch's
        #       identifier: unique on this server, the same in stop.sh.
        #
        clp_nfsmon nfswatch -d XXXX
    else
        echo "ERROR_DISK from FAILOVER"
    fi
else
    echo "NO_CLP"
fi
echo "EXIT"
exit 0
