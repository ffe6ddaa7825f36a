#!/bin/sh
#***********************************************************************
#*                              start.sh                               *
#***********************************************************************
# CLUSTERPRO EXEC resource "samba": start the Samba service.
# The guide's template (CLUSTERPRO File Server Monitoring Option, 10.1.1),
# with systemctl in place of /sbin/service smb start.
# Start script, synchronous (同期).
# Edit the lines marked EDIT (修正箇所). CLUSTERPRO sets CLP_EVENT, CLP_DISK
# and CLP_SERVER; the script always exits 0, as the guide's does.

PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH

# Samba's unit is smb.service on RHEL/Fedora and smbd.service on
# Debian/Ubuntu: the script uses the one that exists.
# EDIT: set SMB_UNIT to your Samba unit if it has another name.
#       Samba のユニット名が異なる場合は、
#       SMB_UNIT を適切な値に修正します。
if systemctl cat smb.service >/dev/null 2>&1
then
    SMB_UNIT=smb.service
else
    SMB_UNIT=smbd.service
fi

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
        echo "SAMBA start"
        #
        # SAMBAの起動 (start Samba)
        #
        systemctl start "$SMB_UNIT"
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
        echo "SAMBA start"
        #
        # SAMBAの起動 (start Samba)
        #
        systemctl start "$SMB_UNIT"
    else
        echo "ERROR_DISK from FAILOVER"
    fi
else
    echo "NO_CLP"
fi
echo "EXIT"
exit 0
