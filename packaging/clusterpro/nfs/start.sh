#!/bin/sh
#***********************************************************************
#*                              start.sh                               *
#***********************************************************************
# CLUSTERPRO EXEC resource "nfs": start the NFS service.
# The guide's template (CLUSTERPRO File Server Monitoring Option, 10.3.1),
# with systemctl in place of /sbin/service nfs start.
# Start script, synchronous (同期).
# Edit the lines marked EDIT (修正箇所). CLUSTERPRO sets CLP_EVENT, CLP_DISK
# and CLP_SERVER; the script always exits 0, as the guide's does.

PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH

# The kernel NFS server's unit: nfs-server.service on RHEL/Fedora and on
# Debian/Ubuntu.
# EDIT: set NFS_UNIT to your NFS server's unit if it is another one
#       (nfs-ganesha.service, for example).
#       NFS サーバのユニット名が異なる場合は、
#       NFS_UNIT を適切な値に修正します。
NFS_UNIT=nfs-server.service

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
        echo "NFS start"
        #
        # NFSサービスの起動 (start the NFS service)
        #
        systemctl start "$NFS_UNIT"
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
        echo "NFS start"
        #
        # NFSサービスの起動 (start the NFS service)
        #
        systemctl start "$NFS_UNIT"
    else
        echo "ERROR_DISK from FAILOVER"
    fi
else
    echo "NO_CLP"
fi
echo "EXIT"
exit 0
