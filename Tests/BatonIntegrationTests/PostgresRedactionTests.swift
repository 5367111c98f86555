import BatonPostgres
import BatonRedis
import Testing

/// Every form of `BATON_DATABASE_URL` that libpq accepts loses its password in logs and
/// `/status` (issue 15, item 7: the last four forms printed it).
@Suite struct PostgresRedactionTests {
    static let forms: [(url: String, secret: String, keeps: [String])] = [
        ("postgresql://baton:s3cret@db.example:5433/jellyfin", "s3cret", ["host=db.example", "port=5433", "dbname=jellyfin", "user=baton"]),
        ("postgres://baton:s3cr%40t@db/jellyfin?sslmode=require", "s3cr", ["sslmode=require", "user=baton"]),
        ("postgresql://db/jellyfin?password=s3cret", "s3cret", ["host=db", "dbname=jellyfin"]),
        ("postgresql://baton@db/jellyfin?sslmode=verify-full&password=s3%20cret", "s3", ["sslmode=verify-full"]),
        ("postgresql:///jellyfin?host=/run/postgresql&user=baton&password=s3cret", "s3cret", ["host=/run/postgresql"]),
        ("host=db dbname=jellyfin password=s3cret", "s3cret", ["host=db", "dbname=jellyfin"]),
        ("host=db password = s3cret dbname=jellyfin", "s3cret", ["host=db", "dbname=jellyfin"]),
        ("host=db\tpassword=s3cret\tdbname=jellyfin", "s3cret", ["host=db", "dbname=jellyfin"]),
        ("host=db password='s3cret phrase' dbname=jellyfin", "s3cret", ["host=db", "dbname=jellyfin"]),
        ("host=db password='it\\'s s3cret' user='my user'", "s3cret", ["host=db", "user='my user'"]),
        ("host=db sslpassword=s3cret sslmode=require", "s3cret", ["sslmode=require"]),
    ]

    @Test(arguments: forms.indices) func thePasswordIsGoneAndTheRestStays(_ i: Int) {
        let form = Self.forms[i]
        let shown = PostgresSettings(url: form.url).redacted
        #expect(!shown.contains(form.secret), "\(form.url) -> \(shown)")
        #expect(shown.contains("password=***"), "\(form.url) -> \(shown)")
        for part in form.keeps { #expect(shown.contains(part), "\(form.url) -> \(shown) lacks \(part)") }
    }

    @Test func anUnparseableStringIsNotShown() {
        // libpq's own message would quote it ("missing "=" after "s3cret" ...").
        let shown = PostgresSettings(url: "host=db password s3cret").redacted
        #expect(!shown.contains("s3cret") && shown.contains("not a valid"))
        #expect(PostgresSettings(url: "postgresql:///postgres").redacted == "dbname=postgres")
    }

    /// The Redis URL: what is shown is rebuilt from the parsed fields, so no form keeps its password.
    @Test func redisURLsLoseTheirPassword() throws {
        for url in ["redis://:s3cret@127.0.0.1:6379/0", "redis://baton:s3cret@redis:6380/2", "redis://baton:s3:cr@t@redis/1",
                    "redis://s3cret@redis"] {
            let shown = try RedisEndpoint(url: url).description
            #expect(!shown.contains("s3") && !shown.contains("cr@t"), "\(url) -> \(shown)")
        }
        #expect(throws: (any Error).self) { try RedisEndpoint(url: "redis://redis:6379/0?password=s3cret") }
        #expect(throws: (any Error).self) { try RedisEndpoint(url: "redis://redis?password=s3cret") }
        #expect(try RedisEndpoint(url: "redis://:s3cret@redis:6379/0").description == "redis://redis:6379/0")
        // A password may hold ? and #: only what follows the last @ is the host part.
        #expect(try RedisEndpoint(url: "redis://:s3?c#r@redis").password == "s3?c#r")
    }
}
