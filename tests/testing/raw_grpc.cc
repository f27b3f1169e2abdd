#include "tests/testing/raw_grpc.h"

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"

namespace tokens::testing {
namespace {

// Field `number` as a length-delimited string.
std::string LengthDelimited(int number, const std::string& value) {
  std::string out;
  out += static_cast<char>((number << 3) | 2);
  size_t length = value.size();
  do {
    unsigned char byte = length & 0x7f;
    length >>= 7;
    if (length) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (length);
  return out + value;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// One request/response exchange on the reflection stream.
absl::StatusOr<std::string> ReflectionExchange(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel.get(), method,
                                                         &ctx));
  stream->Write(ToBuffer(request));
  stream->WritesDone();
  grpc::ByteBuffer response;
  bool got = stream->Read(&response);
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!got) return absl::InternalError("no reflection response");
  return FromBuffer(response);
}

}  // namespace

absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ByteBuffer request =
      ToBuffer(service.empty() ? std::string() : LengthDelimited(1, service));
  grpc::ByteBuffer response;
  grpc::Status status =
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel.get(), method, &ctx, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(FromBuffer(response))) {
    return absl::InternalError("bad health response");
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 1) {
      return static_cast<int>(fields.field(i).varint());
    }
  }
  return 0;  // UNKNOWN (the default value is not sent).
}

absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  // ServerReflectionRequest.list_services = 7.
  auto bytes = ReflectionExchange(channel, LengthDelimited(7, "*"));
  if (!bytes.ok()) return bytes.status();
  auto fields = std::make_unique<google::protobuf::UnknownFieldSet>();
  if (!fields->ParseFromString(*bytes)) {
    return absl::InternalError("bad reflection response");
  }
  std::vector<std::string> names;
  for (int i = 0; i < fields->field_count(); ++i) {
    // ServerReflectionResponse.list_services_response = 6, its `service` = 1,
    // `name` = 1.
    if (fields->field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet list;
    list.ParseFromString(fields->field(i).length_delimited());
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      service.ParseFromString(list.field(j).length_delimited());
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) {
          names.push_back(service.field(k).length_delimited());
        }
      }
    }
  }
  return names;
}

absl::StatusOr<std::vector<std::string>> ReflectionFileNamesContaining(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol) {
  // ServerReflectionRequest.file_containing_symbol = 4.
  auto bytes = ReflectionExchange(channel, LengthDelimited(4, symbol));
  if (!bytes.ok()) return bytes.status();
  auto fields = std::make_unique<google::protobuf::UnknownFieldSet>();
  if (!fields->ParseFromString(*bytes)) {
    return absl::InternalError("bad reflection response");
  }
  std::vector<std::string> names;
  for (int i = 0; i < fields->field_count(); ++i) {
    if (fields->field(i).number() == 7) {
      return absl::NotFoundError(absl::StrCat("symbol not found: ", symbol));
    }
    // file_descriptor_response = 4, its repeated bytes file_descriptor_proto
    // = 1.
    if (fields->field(i).number() != 4) continue;
    google::protobuf::UnknownFieldSet files;
    files.ParseFromString(fields->field(i).length_delimited());
    for (int j = 0; j < files.field_count(); ++j) {
      google::protobuf::FileDescriptorProto file;
      if (file.ParseFromString(files.field(j).length_delimited())) {
        names.push_back(file.name());
      }
    }
  }
  return names;
}

}  // namespace tokens::testing
