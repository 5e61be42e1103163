"""Drives exchangelib (a real EWS client) against the gateway and prints what it read as JSON.

Usage: python ews_exchangelib.py URL TOKEN UPN ITEM_ID FILE_ATTACHMENT_ID ITEM_ATTACHMENT_ID
Needs OAUTHLIB_INSECURE_TRANSPORT=1 for an http:// URL (requests-oauthlib refuses bearer
tokens over plain HTTP otherwise).
"""
import hashlib
import json
import sys
import time

from exchangelib import DELEGATE, OAUTH2, Account, Build, Configuration, OAuth2AuthorizationCodeCredentials, Version
from exchangelib.attachments import AttachmentId, FileAttachment, ItemAttachment
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import Message
from exchangelib.protocol import FailFast


class GatewayTag(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "GatewayTag"
    property_type = "String"


def first(results):
    item = list(results)[0]
    if isinstance(item, Exception):
        raise item
    return item


def main(url, token, upn, item_id, file_attachment_id, item_attachment_id):
    Message.register("gateway_tag", GatewayTag)
    creds = OAuth2AuthorizationCodeCredentials(
        access_token={"access_token": token, "token_type": "Bearer", "expires_in": 3600, "expires_at": time.time() + 3600}
    )
    config = Configuration(
        service_endpoint=url, credentials=creds, auth_type=OAUTH2, version=Version(build=Build(15, 20)),
        retry_policy=FailFast(),
    )
    account = Account(upn, config=config, autodiscover=False, access_type=DELEGATE)
    out = {}

    item = first(account.fetch(ids=[(item_id, None)]))
    out["subject"] = item.subject
    out["body_length"] = len(item.body or "")
    out["text_body_length"] = len(item.text_body or "")
    out["internet_message_id"] = item.message_id
    out["sender"] = item.sender.email_address if item.sender else None
    out["to"] = [r.email_address for r in (item.to_recipients or [])]
    out["attachment_names"] = sorted(a.name for a in (item.attachments or []))
    out["has_attachments"] = item.has_attachments
    out["datetime_received"] = item.datetime_received.isoformat() if item.datetime_received else None
    out["gateway_tag_before"] = item.gateway_tag

    only = first(account.fetch(ids=[(item_id, None)], only_fields=["subject", "body"]))
    out["only_subject"] = only.subject
    out["only_body_length"] = len(only.body or "")

    parent = Message(account=account, id=item_id, changekey=item.changekey)
    content = FileAttachment(attachment_id=AttachmentId(id=file_attachment_id), parent_item=parent).content
    out["file_length"] = len(content)
    out["file_sha256"] = hashlib.sha256(content).hexdigest()

    attached = ItemAttachment(attachment_id=AttachmentId(id=item_attachment_id), parent_item=parent).item
    out["item_attachment_subject"] = attached.subject if attached else None

    message = Message(account=account, id=item_id, changekey=item.changekey)
    message.gateway_tag = "processed"
    message.save(update_fields=["gateway_tag"])
    out["changekey_changed"] = message.changekey != item.changekey
    out["after_set"] = first(account.fetch(ids=[(item_id, None)], only_fields=["gateway_tag"])).gateway_tag
    message.gateway_tag = None
    message.save(update_fields=["gateway_tag"])
    out["after_clear"] = first(account.fetch(ids=[(item_id, None)], only_fields=["gateway_tag"])).gateway_tag
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:7])
