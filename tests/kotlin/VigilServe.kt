import java.io.File
import java.io.IOException
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URL
import java.util.concurrent.TimeUnit

/** The `vigil` binary of the build under test, as scripts/test-kotlin.sh passes it. */
val vigilBinary: String = System.getProperty("vigil.binary") ?: "target/debug/vigil"

/** Returns a free TCP port on 127.0.0.1; another process may take it before it is bound. */
fun freeLoopbackPort(): Int = ServerSocket(0).use { it.localPort }

/**
 * Starts `vigil serve` on 127.0.0.1:[port] with its database `soc.db` and log `server.log`
 * in [folder], and returns once `/v1/health` answers, or fails after 20 s with the log.
 */
fun startVigilServe(folder: File, port: Int, enrollmentCode: String, vararg extraArgs: String): Process {
    val command = listOf(
        vigilBinary, "serve",
        "--listen", "127.0.0.1:$port",
        "--database", File(folder, "soc.db").path,
        "--enrollment-code", enrollmentCode,
    ) + extraArgs
    val log = File(folder, "server.log")
    val process = ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log).start()

    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
    while (System.nanoTime() < deadline) {
        try {
            val connection = URL("http://127.0.0.1:$port/v1/health").openConnection() as HttpURLConnection
            connection.connectTimeout = 500
            if (connection.responseCode == 200) return process
        } catch (_: IOException) {
            // Not listening yet.
        }
        Thread.sleep(100)
    }
    process.destroy()
    error("vigil serve did not answer on port $port within 20 s; its log: ${log.readText()}")
}

/**
 * Writes a new development certificate into [folder] with `vigil tls dev-cert` and returns
 * the folder, which then contains `ca.pem`, `server-chain.pem` and `server-key.pem`.
 */
fun writeDevCertificate(folder: File): File {
    val tls = File(folder, "tls").apply { mkdirs() }
    val process = ProcessBuilder(vigilBinary, "tls", "dev-cert", "--out", tls.path)
        .redirectErrorStream(true)
        .start()
    val output = process.inputStream.bufferedReader().readText()
    check(process.waitFor(20, TimeUnit.SECONDS) && process.exitValue() == 0) {
        "vigil tls dev-cert failed: $output"
    }
    return tls
}

/**
 * Starts `vigil serve` over TLS on 127.0.0.1:[port] with the certificate in [tls], as
 * [writeDevCertificate] wrote it, and returns once the port accepts connections, or fails
 * after 20 s with the log.
 */
fun startVigilServeTls(folder: File, port: Int, enrollmentCode: String, tls: File): Process {
    val command = listOf(
        vigilBinary, "serve",
        "--listen", "127.0.0.1:$port",
        "--database", File(folder, "soc.db").path,
        "--enrollment-code", enrollmentCode,
        "--tls-cert", File(tls, "server-chain.pem").path,
        "--tls-key", File(tls, "server-key.pem").path,
    )
    val log = File(folder, "server.log")
    val process = ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log).start()

    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
    while (System.nanoTime() < deadline) {
        try {
            java.net.Socket("127.0.0.1", port).close()
            return process
        } catch (_: IOException) {
            // Not listening yet.
        }
        Thread.sleep(100)
    }
    process.destroy()
    error("vigil serve did not listen on port $port within 20 s; its log: ${log.readText()}")
}
