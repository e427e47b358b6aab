"""The TF Serving config protos, as message classes.

``ModelServerConfig`` is the generated class that ``tensorflow-serving-api`` ships. It imports with
``protobuf`` alone (its only imports are other ``tensorflow_serving.config`` modules and
``google.protobuf.any_pb2``), so the config checks run without tensorflow.

``MonitoringConfig`` is in no package reachable here: ``tensorflow-serving-api`` 2.21.0 (and its
``-gpu`` twin) ship no ``monitoring_config_pb2``, nor does ``tensorflow-cpu`` 2.21.0. Its two
messages are small, so this module describes them itself (``_monitoring_file``) and builds the class
with protobuf's own descriptor machinery, in a private descriptor pool so it can never clash with a
future ``monitoring_config_pb2`` in the default pool.
"""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tools.errors import UserError

MONITORING_MESSAGE = "tensorflow.serving.MonitoringConfig"


def model_server_config_class() -> type:
    try:
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as error:
        raise UserError(
            f"cannot import the TF Serving protos ({error}); install tensorflow-serving-api "
            "with --no-deps (./dev setup does)"
        ) from None
    return model_server_config_pb2.ModelServerConfig


def _monitoring_file() -> descriptor_pb2.FileDescriptorProto:
    """The file that ``--monitoring_config_file`` is parsed against, written here (not upstream's).

    What it must accept is TF Serving's documented monitoring config ("Monitoring Configuration" in
    the TF Serving guide, tensorflow.org/tfx/serving/serving_config): a text-format
    ``MonitoringConfig`` whose ``prometheus_config`` has ``enable`` (bool) and ``path`` (string).
    Text format matches by name, so the names are what counts. The numbers (1; 1 and 2), types and
    proto3 package ``tensorflow.serving`` are those of TF Serving's own
    ``tensorflow_serving/config/monitoring_config.proto`` (2.20.0), so a binary message means the
    same: checked equal to the descriptor protoc made of that file when this replaced it.
    """
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    types = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="runtimes/tfserving/monitoring_config.proto",  # no such file: a name for the pool
        package="tensorflow.serving",
        syntax="proto3",
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, label=optional, type=types.TYPE_BOOL, json_name="enable")
    prometheus.field.add(name="path", number=2, label=optional, type=types.TYPE_STRING, json_name="path")
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        label=optional,
        type=types.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
        json_name="prometheusConfig",
    )
    return file


@cache
def monitoring_config_class() -> type:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_monitoring_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(MONITORING_MESSAGE))
