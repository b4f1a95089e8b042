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
