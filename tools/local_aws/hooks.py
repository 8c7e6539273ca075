"""The server's hooks into moto for the middleware: who is calling, and a forced race.

The middleware does not import moto itself, so that it can be tested on its own;
the server hands it these two functions.
"""

from __future__ import annotations

from moto.ec2.models import ec2_backends
from moto.iam.models import get_account_id_from


def account_of(access_key: str) -> str:
    """The account an access key acts as: an assumed role's account, or moto's default."""
    return get_account_id_from(access_key)


def deregister_anywhere(region: str, image_id: str) -> None:
    """Deregister an image of any account in a region, as its owner would; unknown IDs pass."""
    for account_backends in list(ec2_backends.values()):
        # dict.get, not [], so that looking does not create a backend per account.
        backend = dict.get(account_backends, region)
        if backend is not None and image_id in backend.amis:
            backend.deregister_image(image_id)
            return
