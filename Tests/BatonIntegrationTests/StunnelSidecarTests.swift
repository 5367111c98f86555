import BatonTestSupport
import Foundation
import Testing

/// The TLS path hiredis 0.14 cannot take itself: batond -> stunnel4 in client mode (the
/// shipped docker/stunnel/redis-client.conf) -> redis-server 7.0 listening with TLS only
/// through its tls-port, with a throw-away CA made by openssl here. A server whose
/// certificate the CA did not sign is refused by stunnel, and batond never grants through it.
@Suite(.serialized) struct StunnelSidecarTests {
    let dir = NSTemporaryDirectory() + "baton-tls-\(UUID().uuidString.prefix(8))"

    func openssl(_ args: [String]) throws {
        let r = try TestEnvironment.run("/usr/bin/openssl", args)
        guard r.status == 0 else { throw TestSetupError("openssl \(args.first ?? ""): \(r.output)") }
    }

    /// A CA, and a certificate for `redis.test` / 127.0.0.1 signed by it.
    func makeCA(_ name: String) throws {
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt",
                     "-days", "1", "-subj", "/CN=baton test \(name)"])
    }

    func makeServerCertificate(signedBy ca: String) throws {
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/redis.key", "-out", "\(dir)/redis.csr", "-subj", "/CN=redis.test"])
        try "subjectAltName=DNS:redis.test,IP:127.0.0.1\n".write(toFile: "\(dir)/ext", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "\(dir)/redis.csr", "-CA", "\(dir)/\(ca).crt", "-CAkey", "\(dir)/\(ca).key", "-CAcreateserial",
                     "-out", "\(dir)/redis.crt", "-days", "1", "-extfile", "\(dir)/ext"])
    }

    /// stunnel with the shipped configuration, only its endpoint values replaced.
    func stunnel(accept: Int, connect: Int, ca: String) throws -> (process: Subprocess, log: String) {
        let shipped = try String(contentsOfFile: TestEnvironment.root + "/docker/stunnel/redis-client.conf", encoding: .utf8)
        var lines: [String] = []
        for line in shipped.split(separator: "\n", omittingEmptySubsequences: false) {
            switch line.split(separator: " ").first {
            case "accept": lines.append("accept = 127.0.0.1:\(accept)")
            case "connect": lines.append("connect = 127.0.0.1:\(connect)")
            case "CAfile": lines.append("CAfile = \(dir)/\(ca).crt")
            case "checkHost", "sni": lines.append("\(line.split(separator: " ")[0]) = redis.test")
            default: lines.append(String(line))
            }
        }
        let conf = "\(dir)/stunnel-\(accept).conf"
        let log = "\(dir)/stunnel-\(accept).log"
        try lines.joined(separator: "\n").write(toFile: conf, atomically: true, encoding: .utf8)
        let p = try Subprocess.spawn(TestEnvironment.stunnel, [conf], outputPath: log)
        for _ in 0..<200 {
            if p.poll() != nil { throw TestSetupError("stunnel exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
            if RedisProcess.listening(port: accept) { return (p, log) }
            usleep(25_000)
        }
        throw TestSetupError("stunnel did not listen on \(accept)")
    }

    @Test func batondReachesATLSOnlyRedisThroughTheStunnelSidecarWithTheCertificateChecked() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeCA("ca")
        try makeCA("other-ca")
        try makeServerCertificate(signedBy: "ca")
        // Plain port 0: the server speaks TLS only.
        let redis = try RedisProcess(extraArgs: ["--tls-cert-file", "\(dir)/redis.crt", "--tls-key-file", "\(dir)/redis.key",
                                                 "--tls-ca-cert-file", "\(dir)/ca.crt", "--tls-auth-clients", "no"], tlsOnly: true)
        let tlsPort = redis.port
        let database = try PostgresDatabase()

        let acceptPort = TestEnvironment.freePort()
        let good = try stunnel(accept: acceptPort, connect: tlsPort, ca: "ca")
        defer { good.process.signal(SIGKILL); good.process.wait() }
        let batond = try BatondProcess(redisURL: "redis://127.0.0.1:\(acceptPort)/0", databaseURL: database.url)
        let r = try batond.client().post("/leader", #"{"lease":"tls","holder":"pod-a","ttl_ms":5000}"#)
        #expect(r.status == 200 && r["mode"] as? String == "normal" && r["fencing_token"] as? Int != nil, "\(r)")
        #expect(try redis.cli(["--tls", "--cacert", "\(dir)/ca.crt", "EXISTS", "baton:lease:{tls}"]) == "1")

        // Same server, but the sidecar trusts another CA: stunnel refuses the certificate,
        // batond sees a broken connection, and never answers a normal grant through it.
        let badPort = TestEnvironment.freePort()
        let bad = try stunnel(accept: badPort, connect: tlsPort, ca: "other-ca")
        defer { bad.process.signal(SIGKILL); bad.process.wait() }
        let refused = try BatondProcess(redisURL: "redis://127.0.0.1:\(badPort)/0", databaseURL: database.url,
                                        extra: ["BATON_ON_REDIS_FAILURE": "deny"])
        let answer = try refused.client().post("/leader", #"{"lease":"tls","holder":"pod-b","ttl_ms":5000}"#)
        #expect(answer.status == 503, "\(answer)")
        #expect(try String(contentsOfFile: bad.log, encoding: .utf8).contains("certificate verify failed"))
    }
}
