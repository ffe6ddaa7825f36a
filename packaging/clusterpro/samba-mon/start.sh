#!/bin/sh
#***********************************************************************
#*                              start.sh                               *
#***********************************************************************
# CLUSTERPRO EXEC resource "samba-mon": watch Samba with clp_sambamon.
# The guide's template (CLUSTERPRO File Server Monitoring Option, 10.2.1),
# with the same command line: clp_sambamon now runs the fswatch-samba@ID unit.
# Start script, asynchronous (非同期): it runs until the watch fails or is
# stopped; a PID monitor resource on this EXEC resource acts on its end.
# Edit the lines marked EDIT (修正箇所). CLUSTERPRO sets CLP_EVENT, CLP_DISK
# and CLP_SERVER; the script always exits 0, as the guide's does.

# clp_sambamon is installed in /usr/sbin, which must be on the PATH (guide 7.1).
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
        echo "clp_sambamon start"
        #
        # 共有ファイル名や共有プリンタ名を適切な値に修正します。
        # EDIT: replace XXXX with the share (or printer) name, as in smb.conf.
        #       Add -a IP for a floating IP, -u USER -p PASS when guest logon is
        #       off, -i/-c/-r for the interval, retries and timeout. sambawatch is
        #       the watch's identifier: unique on this server, the same in stop.sh.
        #
        clp_sambamon sambawatch -s XXXX
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
        echo "clp_sambamon start"
        #
        # 共有ファイル名や共有プリンタ名を適切な値に修正します。
        # EDIT: replace XXXX with the share (or printer) name, as in smb.conf.
        #       Add -a IP for a floating IP, -u USER -p PASS when guest logon is
        #       off, -i/-c/-r for the interval, retries and timeout. sambawatch is
        #       the watch's identifier: unique on this server, the same in stop.sh.
        #
        clp_sambamon sambawatch -s XXXX
    else
        echo "ERROR_DISK from FAILOVER"
    fi
else
    echo "NO_CLP"
fi
echo "EXIT"
exit 0
