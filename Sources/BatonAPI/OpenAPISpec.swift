/// The contract, `openapi/openapi.yaml`, compiled into the binary (SwiftPM embeds the
/// file through a link under Resources/), so `GET /openapi.yaml` serves exactly the
/// spec the build was made from and the image needs no data files.
public enum OpenAPISpec {
    public static let bytes: [UInt8] = PackageResources.openapi_yaml
    public static var text: String { String(decoding: bytes, as: UTF8.self) }
}
