import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.AlertKind
import uniffi.vigil_ffi.SmsSender
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig

/**
 * Raises an alert from Kotlin while the `vigil serve` process is down, receives the SMS
 * fallback through a fake SmsSender, and verifies it with `vigil sms-verify`.
 */
class SmsFallbackTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var port = 0
    private val binary = vigilBinary

    /** Keeps every SMS and call Vigil requests. */
    private class FakeSms : SmsSender {
        val texts: MutableList<Pair<String, String>> = Collections.synchronizedList(mutableListOf())
        val calls: MutableList<String> = Collections.synchronizedList(mutableListOf())

        override fun sendSms(number: String, text: String) {
            texts.add(number to text)
        }

        override fun placeCall(number: String) {
            calls.add(number)
        }
    }

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-kotlin-sms").toFile()
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

    private fun smsVerify(text: String): Int =
        ProcessBuilder(binary, "sms-verify", "--database", File(folder, "soc.db").path, text)
            .redirectErrorStream(true).redirectOutput(File(folder, "verify.log")).start()
            .also { it.waitFor(30, TimeUnit.SECONDS) }
            .exitValue()

    @Test
    fun smsIsRequestedAndVerifiesWhenServerIsDown() = runBlocking {
        startServer()
        val device = Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-sms",
                guardId = "kotlin-guard",
                serverUrl = "http://127.0.0.1:$port",
                enrollmentCode = ENROLLMENT_CODE,
                alertResendIntervalMs = 100uL,
                alertRequestTimeoutMs = 1000uL,
                smsFallbackAfterMs = 200uL,
                smsFallbackNumber = "+15550100",
                smsFallbackCall = true,
            ),
        )
        val sms = FakeSms()
        device.setSmsSender(sms)
        device.syncNow()
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)

        device.raiseAlert(AlertKind.PANIC)
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        // The call is placed right after the SMS, so wait for both.
        while ((sms.texts.isEmpty() || sms.calls.isEmpty()) && System.nanoTime() < deadline) Thread.sleep(10)

        assertEquals(1, sms.texts.size)
        val (number, text) = sms.texts[0]
        assertEquals("+15550100", number)
        assertTrue(text.length <= 160, text)
        assertEquals(listOf("+15550100"), sms.calls.toList())
        assertEquals(0, smsVerify(text), File(folder, "verify.log").readText())
        assertNotEquals(0, smsVerify(text.replaceFirst(" P ", " D ")))
        device.close()
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-sms-code"
    }
}
