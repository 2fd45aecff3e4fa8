"""What goes wrong with a cluster, in one line a musician (or whoever runs the cluster) can act on."""

from __future__ import annotations

from app.studio.errors import StudioError


class ClusterError(StudioError):
    """The Ray cluster could not do the music work."""


class ClusterUnreachable(ClusterError):
    """No cluster answers at `HEARTSONG_RAY_ADDRESS` when the studio starts (or Ray is not installed)."""


class ClusterLost(ClusterError):
    """The cluster stopped answering (or kept losing workers) while a song was made: that song is not kept."""
