"""Drives the official Microsoft Graph SDK for Python (msgraph-sdk) against the gateway.

Usage: msgraph_sdk.py BASE_URL TOKEN UPN MESSAGE_ID ATTACHMENT_ID PROPERTY_ID OTHER_UPN

BASE_URL is the gateway + "/v1.0"; TOKEN is the NAA token for the gateway, sent as a static
bearer token. Prints one JSON object with what the SDK read and wrote.
"""

import asyncio
import base64
import json
import sys

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_value_legacy_extended_property import (
    SingleValueLegacyExtendedProperty,
)
from msgraph.generated.users.item.messages.item.message_item_request_builder import (
    MessageItemRequestBuilder,
)


class StaticToken(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


async def main(base_url, token, upn, message_id, attachment_id, property_id, other_upn):
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)))
    adapter.base_url = base_url
    client = GraphServiceClient(request_adapter=adapter)
    out = {}
    message = client.users.by_user_id(upn).messages.by_message_id(message_id)

    query = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(
        select=["subject", "body"]
    )
    read = await message.get(request_configuration=RequestConfiguration(query_parameters=query))
    out["subject"] = read.subject
    out["body_type"] = read.body.content_type.value if read.body and read.body.content_type else None
    out["body_length"] = len(read.body.content or "") if read.body else 0

    attachment = await message.attachments.by_attachment_id(attachment_id).get()
    out["attachment_type"] = type(attachment).__name__
    out["attachment_name"] = attachment.name
    if isinstance(attachment, FileAttachment):
        content = attachment.content_bytes
        if isinstance(content, str):
            content = base64.b64decode(content)
        out["attachment_bytes"] = len(content or b"")

    patch = Message(
        single_value_extended_properties=[
            SingleValueLegacyExtendedProperty(id=property_id, value="processed-by-sdk")
        ]
    )
    patched = await message.patch(patch)
    out["patched_id"] = patched.id if patched else None

    expand = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(
        select=["subject"],
        expand=[f"singleValueExtendedProperties($filter=id eq '{property_id}')"],
    )
    again = await message.get(request_configuration=RequestConfiguration(query_parameters=expand))
    out["property_values"] = [p.value for p in (again.single_value_extended_properties or [])]

    try:
        await client.users.by_user_id(other_upn).messages.by_message_id(message_id).get()
        out["other_user"] = "served"
    except ODataError as e:
        out["other_user"] = {"status": e.response_status_code, "code": e.error.code if e.error else None}

    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:8]))
