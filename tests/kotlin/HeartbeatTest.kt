import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.HeartbeatPolicy
import uniffi.vigil_ffi.ProtectionState
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Sends a heartbeat from Kotlin to a `vigil serve` process on loopback and reads it back
 * with `vigil devices`.
 */
class HeartbeatTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var port = 0
    private val binary = vigilBinary

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-kotlin-heartbeat").toFile()
        port = ServerSocket(0).use { it.localPort }
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun startServer() {
        server = startVigilServe(folder, port, ENROLLMENT_CODE)
    }

    private fun devices(vararg extra: String): String {
        val process = ProcessBuilder(listOf(binary, "devices", "--database", File(folder, "soc.db").path) + extra)
            .redirectErrorStream(true).start()
        val output = process.inputStream.bufferedReader().readText()
        process.waitFor(30, TimeUnit.SECONDS)
        assertEquals(0, process.exitValue(), output)
        return output
    }

    @Test
    fun heartbeatIsListedAndGoesSilent() = runBlocking {
        startServer()
        val device = Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-heartbeat",
                guardId = "kotlin-guard",
                serverUrl = "http://127.0.0.1:$port",
                enrollmentCode = ENROLLMENT_CODE,
            ),
        )

        device.sendHeartbeat(ProtectionState(locationPermission = true, batteryPercent = 55u.toUByte()))
        val listed = devices()
        assertTrue(listed.contains("ok     kotlin-heartbeat"), listed)

        Thread.sleep(5)
        val silent = devices("--silent", "--silent-after-s", "0")
        assertTrue(silent.contains("SILENT kotlin-heartbeat"), silent)

        assertFailsWith<VigilException.InvalidInput> {
            device.sendHeartbeat(ProtectionState(locationPermission = true, batteryPercent = 101u.toUByte()))
        }
        device.close()
    }

    @Test
    fun scheduledHeartbeatsStopWhenPaused() = runBlocking {
        startServer()
        val device = Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-scheduled",
                guardId = "kotlin-guard",
                serverUrl = "http://127.0.0.1:$port",
                enrollmentCode = ENROLLMENT_CODE,
            ),
        )
        assertFailsWith<VigilException.InvalidInput> {
            device.startHeartbeats(HeartbeatPolicy(intervalMs = 0uL, alertIntervalMs = 100uL))
        }
        device.startHeartbeats(HeartbeatPolicy(intervalMs = 200uL, alertIntervalMs = 100uL))
        device.setProtectionState(ProtectionState(locationPermission = true, batteryPercent = 70u.toUByte()))

        // The library sends heartbeats on its own: the device is listed and not silent.
        waitForDevices("ok     kotlin-scheduled", "--silent-after-s", "2")

        // Paused, it sends nothing, and the server marks it silent after 1 s.
        device.pause()
        waitForDevices("SILENT kotlin-scheduled", "--silent-after-s", "1")
        device.resume()
        waitForDevices("ok     kotlin-scheduled", "--silent-after-s", "1")

        device.stopHeartbeats()
        device.close()
    }

    /** Runs `vigil devices` with [extra] until its output contains [expected], for up to 30 s. */
    private fun waitForDevices(expected: String, vararg extra: String) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        var output = devices(*extra)
        while (!output.contains(expected)) {
            assertTrue(System.nanoTime() < deadline, "never saw '$expected' in: $output")
            Thread.sleep(100)
            output = devices(*extra)
        }
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-heartbeat-code"
    }
}
