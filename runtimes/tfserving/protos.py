"""The real TF Serving config protos, as message classes.

``ModelServerConfig`` is the generated class that ``tensorflow-serving-api`` ships. It imports with
``protobuf`` alone (its only imports are other ``tensorflow_serving.config`` modules and
``google.protobuf.any_pb2``), so the config checks run without tensorflow.

``MonitoringConfig`` is not in that package (2.21.0 ships no ``monitoring_config_pb2``), so it is built
from ``proto/monitoring_config.descriptor.txtpb``: the descriptor a real protoc compiled from the
verbatim upstream ``monitoring_config.proto`` (see ``proto/regenerate.sh``). It lives in a private
descriptor pool so it can never clash with a future ``monitoring_config_pb2`` in the default pool.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from tools.errors import UserError

MONITORING_DESCRIPTOR = Path(__file__).parent / "proto" / "monitoring_config.descriptor.txtpb"


def model_server_config_class() -> type:
    try:
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as error:
        raise UserError(
            f"cannot import the TF Serving protos ({error}); install tensorflow-serving-api "
            "with --no-deps (./dev setup does)"
        ) from None
    return model_server_config_pb2.ModelServerConfig


@cache
def monitoring_config_class() -> type:
    descriptor_set = text_format.Parse(MONITORING_DESCRIPTOR.read_text(), descriptor_pb2.FileDescriptorSet())
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))
