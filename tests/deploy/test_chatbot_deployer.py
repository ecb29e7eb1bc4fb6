"""Chatbot redeploys: the Kubernetes rollout-restart patch as the kubernetes client sends it, and
the local reload call, both against a real HTTP peer that records what arrives."""

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from stock_assets.deploy.resources import ChatbotDeployer, DeployError
from stock_assets.deploy.sensors import chatbot_redeploy_sensor


class Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        payload = json.dumps({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "chatbot-api"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_PATCH = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def peer():
    Recorder.seen = []
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", Recorder.seen
    server.shutdown()


def test_kubernetes_rollout_restart_patch(peer):
    from kubernetes import client

    url, seen = peer
    configuration = client.Configuration()
    configuration.host = url
    apps = client.AppsV1Api(client.ApiClient(configuration))
    deployer = ChatbotDeployer(mode="kubernetes", namespace="mlteam", deployment="chatbot-api")
    result = deployer.redeploy(apps_api=apps)
    request = seen[-1]
    assert request["method"] == "PATCH"
    assert request["path"] == "/apis/apps/v1/namespaces/mlteam/deployments/chatbot-api"
    assert request["headers"]["Content-Type"] == "application/strategic-merge-patch+json"
    annotations = json.loads(request["body"])["spec"]["template"]["metadata"]["annotations"]
    stamp = datetime.fromisoformat(annotations["kubectl.kubernetes.io/restartedAt"])
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60
    assert result["deployment"] == "mlteam/chatbot-api"


def test_local_reload_sends_the_bearer_token(peer, monkeypatch):
    url, seen = peer
    monkeypatch.setenv("CHATBOT_ADMIN_TOKEN", "s3cret-token")
    assert ChatbotDeployer(mode="local", api_url=url).redeploy()["status"] == 200
    assert seen[-1]["path"] == "/v1/admin/reload" and seen[-1]["headers"]["Authorization"] == "Bearer s3cret-token"
    monkeypatch.delenv("CHATBOT_ADMIN_TOKEN")
    with pytest.raises(DeployError, match="CHATBOT_ADMIN_TOKEN is not set"):
        ChatbotDeployer(mode="local", api_url=url).redeploy()


def test_chatbot_sensor_collapses_a_backfill_into_one_redeploy(tmp_path, tiny_bert, replay_dir):
    from tests.conftest import materialize_range
    from tests.news.test_news_assets import ASSETS, news_resources

    with dg.instance_for_test() as instance:
        assert materialize_range(ASSETS, news_resources(tmp_path, tiny_bert), "2014-01-02", "2014-01-06", instance).success
        resources = {"chatbot": ChatbotDeployer(mode="kubernetes")}
        context = dg.build_sensor_context(instance=instance, resources=resources)
        requests = list(chatbot_redeploy_sensor(context))
        assert len(requests) == 1 and "news 2014-01-02" in requests[0].tags["stock/changes"]
        assert list(chatbot_redeploy_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor, resources=resources))) == []


def test_chatbot_sensor_waits_while_the_local_chatbot_is_down():
    with dg.instance_for_test() as instance:
        down = ChatbotDeployer(mode="local", api_url="http://127.0.0.1:9")
        context = dg.build_sensor_context(instance=instance, resources={"chatbot": down})
        (skip,) = list(chatbot_redeploy_sensor(context))
        assert isinstance(skip, dg.SkipReason)
        assert "http://127.0.0.1:9" in skip.skip_message and "make serve" in skip.skip_message
        assert context.cursor is None  # nothing consumed: the redeploy happens once it is up
