import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException
import uniffi.vigil_ffi.spkiPinsFromPem

/**
 * Syncs through the Kotlin API with a `vigil serve --tls-cert --tls-key` process on
 * loopback: a pinned certificate, a backup pin, a wrong pin and an untrusted CA.
 */
class TlsTest {
    private lateinit var folder: File
    private lateinit var tls: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-tls").toFile()
        tls = writeDevCertificate(folder)
        val port = freeLoopbackPort()
        serverUrl = "https://127.0.0.1:$port"
        server = startVigilServeTls(folder, port, ENROLLMENT_CODE, tls)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun openDevice(name: String, pins: List<String>, caPem: String?): Vigil =
        Vigil.open(
            File(folder, "$name.db").path,
            VigilConfig(
                deviceId = name,
                guardId = "kotlin-guard",
                serverUrl = serverUrl,
                enrollmentCode = ENROLLMENT_CODE,
                spkiPins = pins,
                caCertificatesPem = caPem,
                syncAttempts = 2u,
                retryBaseDelayMs = 20uL,
                requestTimeoutMs = 3000uL,
            ),
        )

    private fun caPem() = File(tls, "ca.pem").readText()

    @Test
    fun backupPinSyncs() = runBlocking {
        val pins = spkiPinsFromPem(File(tls, "server-chain.pem").readText())
        assertEquals(2, pins.size, "the chain holds the server certificate and the CA")
        // The primary pin matches nothing, as after the SOC moved to its backup key.
        val device = openDevice("backup-pin", listOf(UNUSED_PIN, pins[0]), caPem())

        device.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")
        val summary = device.syncNow()

        assertEquals(1uL, summary.acknowledged)
        assertEquals(0uL, summary.counts.pending)
        device.close()
    }

    @Test
    fun wrongPinIsUntrustedServer() = runBlocking {
        val device = openDevice("wrong-pin", listOf(UNUSED_PIN), caPem())
        device.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")

        val error = assertFailsWith<VigilException.UntrustedServer> { device.syncNow() }

        assertTrue(error.detail.contains("SPKI pin"), error.detail)
        assertEquals(1uL, device.pending().pending, "the record stays queued")
        device.close()
    }

    @Test
    fun untrustedCaIsUntrustedServer() = runBlocking {
        val device = openDevice("no-ca", emptyList(), null)
        device.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")

        val error = assertFailsWith<VigilException.UntrustedServer> { device.syncNow() }

        assertTrue(error.detail.contains("not signed by a trusted CA"), error.detail)
        device.close()
    }

    @Test
    fun malformedPinIsInvalidInput() {
        val error = assertFailsWith<VigilException.InvalidInput> {
            openDevice("bad-pin", listOf("not-base64!"), caPem())
        }
        assertEquals("tls.spki_pins", error.field)
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-tls-code"
        /** A pin that matches no certificate: the SHA-256 of nothing, in base64. */
        const val UNUSED_PIN = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    }
}
