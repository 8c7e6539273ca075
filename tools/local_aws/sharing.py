"""Cross-account AMI sharing for moto's EC2 backend.

moto keeps one EC2 backend per (account, region) and answers every image call
from the caller's own backend only, so an image shared with another account
stays invisible to it. This module hooks the image methods of moto's backend
so that launch permissions mean what AWS documents:

- DescribeImages returns the caller's own images plus the images of other
  accounts in the same region that are public, carry a ``UserId`` launch
  permission for the caller, or are shared with an organization or OU the
  caller belongs to (membership comes from the seed); ``ExecutableUsers``,
  ``Owners``, ``ImageIds`` and filters scope that set.
- Tags stay per account: a shared image is shown to each viewer with the
  viewer's own tags, which moto already stores per backend.
- Only the owner may read or change an image's attributes or deregister it.

``install()`` patches moto's classes in place; it neither forks nor copies
moto. moto stores organization and OU launch permissions but never evaluates
them; ``set_organizations()`` gives them the accounts they reach.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterator
from typing import Any
from typing import Callable

from moto.core.responses import ActionResult
from moto.core.responses import EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.exceptions import InvalidAMIIdError
from moto.ec2.exceptions import InvalidID
from moto.ec2.exceptions import MalformedAMIIdError
from moto.ec2.exceptions import UnvailableAMIIdError
from moto.ec2.models import EC2Backend
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.models.amis import AmiBackend
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import generic_filter

# DescribeImages page size bounds, as the EC2 API reference gives them.
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZE = 1000
# AWS takes an image ID as well formed only in these two shapes (old and new IDs).
_IMAGE_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# The one attribute ResetImageAttribute accepts in the EC2 API reference.
RESETTABLE_ATTRIBUTE = "launchPermission"

_ORIGINALS: dict[str, Callable[..., Any]] = {}
# Organization and OU ARN -> the accounts it reaches (seed.parse_organizations).
_MEMBERS: dict[str, frozenset[str]] = {}


def set_organizations(memberships: dict[str, frozenset[str]]) -> None:
    """Replace the organizations and OUs: each ARN with the accounts it reaches."""
    _MEMBERS.clear()
    _MEMBERS.update(memberships)


class ImageNotOwnedError(EC2ClientError):
    """A caller that may launch an image, but does not own it, tried to manage it."""

    def __init__(self, image_id: str) -> None:
        # AWS documents AuthFailure for using an AMI you lack permissions for;
        # see docs/local-aws.md for why this code and not UnauthorizedOperation.
        super().__init__("AuthFailure", f"Not authorized for image:{image_id}")


class UnresettableAttributeError(EC2ClientError):
    """ResetImageAttribute for an attribute other than launchPermission."""

    def __init__(self, attribute: str) -> None:
        super().__init__(
            "InvalidParameterValue",
            f"Value ({attribute}) for parameter attribute is invalid. "
            f"Only {RESETTABLE_ATTRIBUTE} can be reset.",
        )


class InvalidPaginationTokenError(EC2ClientError):
    """A NextToken this server did not hand out."""

    def __init__(self, token: str) -> None:
        super().__init__("InvalidPaginationToken", f"The token '{token}' is invalid.")


def _peer_backends(backend: Any) -> Iterator[Any]:
    """Yield the EC2 backends of every other account that has one in the caller's region."""
    for account_id, account_backends in list(ec2_backends.items()):
        if account_id == backend.account_id:
            continue
        # dict.get, not [], so that looking does not create a backend per account.
        peer = dict.get(account_backends, backend.region_name)
        if peer is not None:
            yield peer


def _has_explicit_permission(image: Ami, account_id: str) -> bool:
    return any(lp.get("UserId") == account_id for lp in image.launch_permissions)


def _has_organization_permission(image: Ami, account_id: str) -> bool:
    """Whether an organization or OU the image is shared with has the account as a member."""
    for lp in image.launch_permissions:
        arn = lp.get("OrganizationArn") or lp.get("OrganizationalUnitArn")
        if arn is not None and account_id in _MEMBERS.get(arn, ()):
            return True
    return False


def _launchable_by(image: Ami, account_id: str) -> bool:
    return (
        image.is_public
        or _has_explicit_permission(image, account_id)
        or _has_organization_permission(image, account_id)
    )


def _as_seen_by(image: Any, viewer: Any) -> Any:
    """Return an image or snapshot as another account sees it: same object, the viewer's tags.

    A shallow copy shares the permissions (and an image's snapshot) with the owner's
    object; only ``ec2_backend``, which moto reads the tags from, is the viewer's.
    """
    view = copy.copy(image)
    view.ec2_backend = viewer
    return view


def visible_images(backend: Any) -> list[Ami]:
    """Every image the backend's account may launch in its region: own, shared, public."""
    images = list(backend.amis.values())
    for peer in _peer_backends(backend):
        for image in list(peer.amis.values()):
            if _launchable_by(image, backend.account_id):
                images.append(_as_seen_by(image, backend))
    return images


def _is_known_anywhere(backend: Any, image_id: str) -> bool:
    """Whether the ID names an image, live or deregistered, of any account in the region."""
    for candidate in (backend, *_peer_backends(backend)):
        if image_id in candidate.amis or image_id in candidate.deleted_amis:
            return True
    return False


def is_well_formed_image_id(image_id: str) -> bool:
    """Whether the ID has a shape AWS accepts: ``ami-`` and 8 or 17 lowercase hex digits."""
    return bool(_IMAGE_ID.match(image_id))


def _check_image_ids(backend: Any, image_ids: list[str]) -> None:
    malformed = [image_id for image_id in image_ids if not is_well_formed_image_id(image_id)]
    if malformed:
        raise MalformedAMIIdError(malformed)
    unknown = [image_id for image_id in image_ids if not _is_known_anywhere(backend, image_id)]
    if unknown:
        raise InvalidAMIIdError(unknown)


def _matches_executable_users(image: Ami, users: list[str], caller: str) -> bool:
    for user in users:
        if user == "all":
            if image.is_public:
                return True
        elif user in ("self", caller):
            # The DescribeImages reference: for yourself, organization and OU shares count.
            if _has_explicit_permission(image, caller) or _has_organization_permission(
                image, caller
            ):
                return True
        elif _has_explicit_permission(image, user):
            return True
    return False


def describe_images(
    self: Any,
    ami_ids: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    exec_users: list[str] | None = None,
    owners: list[str] | None = None,
) -> list[Ami]:
    """DescribeImages over every image the caller may launch, scoped as AWS scopes it.

    An existing image the caller may not launch is left out of an ``ImageIds``
    answer rather than reported, as the DescribeImages reference says; an ID
    no account has ever had is InvalidAMIID.NotFound.
    """
    images = visible_images(self)

    if ami_ids:
        _check_image_ids(self, ami_ids)
        wanted_ids = set(ami_ids)
        images = [image for image in images if image.id in wanted_ids]
    if exec_users:
        images = [
            image
            for image in images
            if _matches_executable_users(image, exec_users, self.account_id)
        ]
    if owners:
        wanted_owners = {self.account_id if owner == "self" else owner for owner in owners}
        images = [
            image
            for image in images
            if image.owner_id in wanted_owners or image.owner_alias in wanted_owners
        ]
    if filters:
        images = generic_filter(filters, images)

    return images


def find_image(backend: Any, image_id: str) -> Ami:
    """The image with that ID as the backend's account sees it, or the error AWS gives."""
    if not is_well_formed_image_id(image_id):
        raise MalformedAMIIdError([image_id])
    # A lookup by ID in each account, not a scan of visible_images: callers such as
    # ModifyImageAttribute run once per image, and a scan made a fleet's apply quadratic.
    own = backend.amis.get(image_id)
    if own is not None:
        return own
    for peer in _peer_backends(backend):
        image = peer.amis.get(image_id)
        if image is not None and _launchable_by(image, backend.account_id):
            return _as_seen_by(image, backend)
    if image_id in backend.deleted_amis:
        raise UnvailableAMIIdError(image_id)
    raise InvalidAMIIdError(image_id)


def _find_owned_image(backend: Any, image_id: str) -> Ami:
    image = find_image(backend, image_id)
    if image.owner_id != backend.account_id:
        raise ImageNotOwnedError(image_id)
    return image


def modify_image_attribute(
    self: Any,
    ami_id: str,
    launch_permissions_to_add: list[dict[str, str]],
    launch_permissions_to_remove: list[dict[str, str]],
) -> None:
    """ModifyImageAttribute, allowed to the image's owner only."""
    _find_owned_image(self, ami_id)
    _ORIGINALS["modify_image_attribute"](
        self, ami_id, launch_permissions_to_add, launch_permissions_to_remove
    )


def describe_image_attribute(self: Any, ami_id: str, attribute_name: str) -> Any:
    """DescribeImageAttribute, allowed to the image's owner only.

    moto indexes its image dict directly, so an unknown ID used to surface as
    an HTTP 500; here it is InvalidAMIID.NotFound like every other image call.
    """
    image = _find_owned_image(self, ami_id)
    # moto maps some attribute names to fields its Ami does not have.
    return getattr(image, attribute_name, None)


def deregister_image(self: Any, ami_id: str) -> None:
    """DeregisterImage by the owner; every account's tags on the image go with it."""
    if ami_id not in self.amis and ami_id not in self.deleted_amis:
        _find_owned_image(self, ami_id)
    _ORIGINALS["deregister_image"](self, ami_id)
    # moto keeps the owner's tags of a deregistered image; AWS drops them.
    for backend in (self, *_peer_backends(self)):
        backend.tags.pop(ami_id, None)


def copy_image(
    self: Any,
    source_image_id: str,
    source_region: str,
    name: str | None = None,
    description: str | None = None,
) -> Ami:
    """CopyImage of an image the caller may launch in the source region.

    moto takes the first image its lookup returns, which is an IndexError (an
    HTTP 500) when the caller cannot see the image; AWS answers NotFound.
    """
    source_backend = ec2_backends[self.account_id][source_region]
    find_image(source_backend, source_image_id)
    return _ORIGINALS["copy_image"](self, source_image_id, source_region, name, description)


def run_instances(self: Any, image_id: str, *arguments: Any, **options: Any) -> Any:
    """RunInstances, refused for an image of another account that the caller may not launch.

    An ID that no account has is left to moto, which launches it with default
    image settings, so that tests with made-up image IDs keep working.
    """
    if image_id and _is_known_anywhere(self, image_id):
        find_image(self, image_id)
    return _ORIGINALS["run_instances"](self, image_id, *arguments, **options)


def do_resources_exist(self: Any, resource_ids: list[str]) -> bool:
    """Existence check for CreateTags: an image must be one the caller may launch.

    A malformed image ID is InvalidID here, the code CreateTags gives for any
    malformed resource ID; moto's own check catches most of them first.
    """
    for resource_id in resource_ids:
        if resource_id.startswith("ami-"):
            if not is_well_formed_image_id(resource_id):
                raise InvalidID(resource_id)
            find_image(self, resource_id)
    others = [resource_id for resource_id in resource_ids if not resource_id.startswith("ami-")]
    return _ORIGINALS["do_resources_exist"](self, others)


def get_tags(self: Ami) -> list[dict[str, str]]:
    """The image's tags in its ``ec2_backend``, read by key.

    moto scans every tag of the account for each image it describes, which
    makes listing thousands of images quadratic; a direct lookup gives the
    same rows.
    """
    return [
        {"resource_id": self.id, "key": key, "value": value, "resource_type": "image"}
        for key, value in self.ec2_backend.tags.get(self.id, {}).items()
    ]


def _block_device_mappings(self: Ami) -> list[dict[str, Any]]:
    """moto's root mapping, plus whether its snapshot is encrypted, as AWS reports it."""
    mappings = _ORIGINALS["block_device_mappings"](self)
    for mapping in mappings:
        mapping["Ebs"]["Encrypted"] = bool(self.ebs_snapshot.encrypted)
    return mappings


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_page_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidPaginationTokenError(token) from error
    if not isinstance(offset, int) or offset < 0:
        raise InvalidPaginationTokenError(token)
    return offset


def describe_image_attribute_response(self: AmisResponse) -> ActionResult:
    """DescribeImageAttribute: the image is looked up before moto checks the attribute name.

    moto refuses some attribute names before it looks at the image, so an
    unknown ID could answer AuthFailure or InvalidRequest; AWS answers NotFound.
    """
    _find_owned_image(self.ec2_backend, self._get_param("ImageId"))
    return _ORIGINALS["describe_image_attribute_response"](self)


def reset_image_attribute_response(self: AmisResponse) -> EmptyResult:
    """ResetImageAttribute of launchPermission: the owner makes the image private again."""
    image_id = self._get_param("ImageId")
    attribute = self._get_param("Attribute")
    self.error_on_dryrun()

    image = _find_owned_image(self.ec2_backend, image_id)
    if attribute != RESETTABLE_ATTRIBUTE:
        raise UnresettableAttributeError(attribute)
    # The list is shared with every account's view of the image, so clear it in place.
    image.launch_permissions.clear()
    return EmptyResult()


def describe_images_response(self: AmisResponse) -> ActionResult:
    """DescribeImages with MaxResults/NextToken paging, which moto ignores."""
    answer = _ORIGINALS["describe_images_response"](self)
    max_results = self._get_param("MaxResults")
    next_token = self._get_param("NextToken")
    if max_results is None and next_token is None:
        return answer

    if max_results is not None and self._get_param("ImageIds"):
        raise EC2ClientError(
            "InvalidParameterCombination",
            "The parameter imageIdsSet cannot be used with the parameter maxResults",
        )
    images = answer.result["Images"]  # type: ignore[index]
    return ActionResult(paged("Images", images, max_results, next_token))


def paged(key: str, items: list[Any], max_results: Any, next_token: str | None) -> dict[str, Any]:
    """One page of `items` under `key`, with the NextToken of the next page when there is one."""
    page_size = MAX_PAGE_SIZE if max_results is None else int(max_results)
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ( {page_size} ) for parameter maxResults is invalid. "
            f"Expecting a value between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}.",
        )
    offset = 0 if next_token is None else _decode_page_token(next_token)

    page: dict[str, Any] = {key: items[offset : offset + page_size]}
    if offset + page_size < len(items):
        page["NextToken"] = _encode_page_token(offset + page_size)
    return page


def install() -> None:
    """Hook moto's EC2 image handling; calling it again changes nothing."""
    if _ORIGINALS:
        return
    _ORIGINALS["modify_image_attribute"] = AmiBackend.modify_image_attribute
    _ORIGINALS["deregister_image"] = AmiBackend.deregister_image
    _ORIGINALS["do_resources_exist"] = EC2Backend.do_resources_exist
    _ORIGINALS["block_device_mappings"] = Ami.block_device_mappings.fget  # type: ignore[attr-defined]
    _ORIGINALS["describe_images_response"] = AmisResponse.describe_images
    _ORIGINALS["copy_image"] = AmiBackend.copy_image
    _ORIGINALS["run_instances"] = InstanceBackend.run_instances
    _ORIGINALS["describe_image_attribute_response"] = AmisResponse.describe_image_attribute

    AmiBackend.describe_images = describe_images  # type: ignore[method-assign]
    AmiBackend.modify_image_attribute = modify_image_attribute  # type: ignore[method-assign]
    AmiBackend.describe_image_attribute = describe_image_attribute  # type: ignore[method-assign]
    AmiBackend.deregister_image = deregister_image  # type: ignore[method-assign]
    EC2Backend.do_resources_exist = do_resources_exist  # type: ignore[method-assign]
    Ami.get_tags = get_tags  # type: ignore[method-assign]
    Ami.block_device_mappings = property(_block_device_mappings)  # type: ignore[assignment,method-assign]
    AmisResponse.describe_images = describe_images_response  # type: ignore[method-assign]
    AmiBackend.copy_image = copy_image  # type: ignore[method-assign]
    InstanceBackend.run_instances = run_instances  # type: ignore[method-assign]
    AmisResponse.describe_image_attribute = describe_image_attribute_response  # type: ignore[method-assign]
    AmisResponse.reset_image_attribute = reset_image_attribute_response  # type: ignore[method-assign,assignment]
