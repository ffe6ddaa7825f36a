#!/bin/sh
#***********************************************************************
#*                               stop.sh                               *
#***********************************************************************
# CLUSTERPRO EXEC resource "nfs-mon": stop the clp_nfsmon watch.
# The guide's template (CLUSTERPRO File Server Monitoring Option, 10.4.2),
# with the same command line: clp_nfsmon now stops the fswatch-nfs@ID unit.
# Stop script, synchronous (同期).
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
        echo "clp_nfsmon stop"
        #
        # clp_nfsmonの終了
        # EDIT: the identifier (nfswatch) must be the one in start.sh.
        #       識別子は start.sh と同じ値に修正します。
        #
        clp_nfsmon nfswatch -stop
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
        echo "clp_nfsmon stop"
        #
        # clp_nfsmonの終了
        # EDIT: the identifier (nfswatch) must be the one in start.sh.
        #       識別子は start.sh と同じ値に修正します。
        #
        clp_nfsmon nfswatch -stop
    else
        echo "ERROR_DISK from FAILOVER"
    fi
else
    echo "NO_CLP"
fi
echo "EXIT"
exit 0
