"""Object-created notification bodies as S3, SNS/SQS, EventBridge and GCS send them."""

from __future__ import annotations

import base64
import json

import pytest

from tasks.elt.notifications import lake_keys, objects

# Shapes from the AWS S3 "Event message structure" and GCS "Pub/Sub notifications" docs.
S3_RECORD = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
             "eventName": "ObjectCreated:Put",
             "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "ki-lake"},
                    "object": {"key": "prod/landing/clickstream/2019+Oct%C3%A9.csv", "size": 1024,
                               "eTag": "d41d8cd98f00b204e9800998ecf8427e"}}}
GCS_OBJECT = {"kind": "storage#object", "bucket": "ki-lake", "name": "landing/clickstream/a b.csv",
              "generation": "1700000000000000", "size": "10"}


def test_s3_keys_are_url_decoded_and_made_relative_to_the_lake():
    found = lake_keys({"Records": [S3_RECORD]}, "s3://ki-lake/prod")
    assert found.keys == ["landing/clickstream/2019 Octé.csv"] and not found.ignored


def test_s3_inside_sns_and_sqs_envelopes():
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps({"Records": [S3_RECORD]})}}]}
    sqs = {"Records": [{"messageId": "1", "body": json.dumps({"Records": [S3_RECORD]})}]}
    sns_http = {"Type": "Notification", "Message": json.dumps({"Records": [S3_RECORD]})}
    for body in (sns, sqs, sns_http):
        assert lake_keys(body, "s3://ki-lake/prod").keys == ["landing/clickstream/2019 Octé.csv"]


def test_eventbridge_object_created():
    body = {"version": "0", "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "ki-lake"}, "object": {"key": "landing/clickstream/x.csv", "size": 5}}}
    assert lake_keys(body, "s3://ki-lake").keys == ["landing/clickstream/x.csv"]


def test_gcs_pubsub_push_and_pull_and_bare_object():
    attributes = {"bucketId": "ki-lake", "objectId": "landing/clickstream/a b.csv",
                  "eventType": "OBJECT_FINALIZE", "objectGeneration": "1700000000000000"}
    data = base64.b64encode(json.dumps(GCS_OBJECT).encode()).decode()
    push = {"message": {"attributes": attributes, "data": data, "messageId": "1"}, "subscription": "s"}
    pull = {"attributes": attributes, "data": data}
    no_attributes = {"message": {"data": data}}
    for body in (push, pull, no_attributes, GCS_OBJECT, [GCS_OBJECT]):
        assert lake_keys(body, "gs://ki-lake").keys == ["landing/clickstream/a b.csv"]


def test_other_buckets_and_other_events_are_ignored_with_a_reason():
    deleted = {**S3_RECORD, "eventName": "ObjectRemoved:Delete"}
    other = {**S3_RECORD, "s3": {**S3_RECORD["s3"], "bucket": {"name": "elsewhere"}}}
    archived = {"message": {"attributes": {"bucketId": "ki-lake", "objectId": "landing/clickstream/x",
                                           "eventType": "OBJECT_DELETE"}}}
    found = lake_keys([{"Records": [deleted, other]}, archived], "s3://ki-lake/prod")
    assert found.keys == []
    reasons = [i["reason"] for i in found.ignored]
    assert reasons[0].startswith("not an object creation") and "outside the lake" in reasons[1]
    assert reasons[2].startswith("not an object creation")


def test_the_s3_test_event_names_nothing_and_garbage_is_refused():
    assert objects({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "ki-lake"}) == []
    with pytest.raises(ValueError, match="unrecognised notification"):
        objects({"hello": "world"})
    with pytest.raises(ValueError):
        objects(b"not json")
