import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Fix
import uniffi.vigil_ffi.FixSource
import uniffi.vigil_ffi.ScanMethod
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Scans SOC-signed QR payloads from Kotlin: the key is made and the tag signed by
 * `vigil tag-key`, the public key reaches the device through `vigil serve`, and the device
 * verifies offline.
 */
class SignedTagTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""
    private val binary = vigilBinary

    private fun run(vararg args: String): String {
        val process = ProcessBuilder(binary, *args).redirectErrorStream(true).start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "vigil ${args.toList()} did not finish")
        assertEquals(0, process.exitValue(), output)
        return output.trim()
    }

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-signed").toFile()
        val site = File(folder, "yard.geojson")
        site.writeText(SITE_GEOJSON)
        val keyFile = File(folder, "soc.pk8")
        val publicKey = run("tag-key", "new", "--key-id", "soc-kotlin", "--out", keyFile.path)
        signedPump = run(
            "tag-key", "sign", "--key", keyFile.path, "--key-id", "soc-kotlin",
            "--site", "yard", "--checkpoint", "pump",
        )

        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, ENROLLMENT_CODE, "--site", site.path, "--tag-key", publicKey)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private var signedPump = ""


    @Test
    fun signedQrIsVerifiedOffline() = runBlocking {
        val device = Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-signed-device",
                guardId = "kotlin-guard",
                serverUrl = serverUrl,
                enrollmentCode = ENROLLMENT_CODE,
                syncAttempts = 2u,
                retryBaseDelayMs = 20uL,
                requestTimeoutMs = 3000uL,
            ),
        )
        device.syncNow()
        stopServer()

        device.startShift("yard")
        device.recordFixes(listOf(Fix(PUMP_LATITUDE, PUMP_LONGITUDE, 4.0, null, null, null, FixSource.GNSS, false, System.currentTimeMillis())))
        val genuine = device.scanCheckpoint(ScanMethod.QR, signedPump)
        assertTrue(genuine.accepted, "reasons: ${genuine.reasons}")
        assertEquals("pump", genuine.checkpointId)

        // Change one character inside the signature, away from the trailing padding bits.
        val index = signedPump.length - 10
        val swapped = if (signedPump[index] == 'A') 'B' else 'A'
        val altered = signedPump.substring(0, index) + swapped + signedPump.substring(index + 1)
        val forged = device.scanCheckpoint(ScanMethod.QR, altered)
        assertFalse(forged.accepted)
        assertEquals("unverified_tag", forged.reasons.single().code)

        val fromNfc = device.scanCheckpointBytes(ScanMethod.NFC, signedPump.toByteArray(Charsets.UTF_8))
        assertTrue(fromNfc.accepted, "reasons: ${fromNfc.reasons}")

        val error = assertFailsWith<VigilException.InvalidInput> {
            device.scanCheckpointBytes(ScanMethod.NFC, byteArrayOf(0x76, 0xff.toByte(), 0xfe.toByte()))
        }
        assertEquals("payload", error.field)
        assertTrue(error.reason.contains("offset 1"), error.reason)
        device.close()
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-signed-code"
        const val PUMP_LATITUDE = 45.5003
        const val PUMP_LONGITUDE = -73.5597
        val SITE_GEOJSON = """
            {"type": "FeatureCollection", "features": [
              {"type": "Feature", "id": "yard", "properties": {"name": "Yard"},
               "geometry": {"type": "Polygon", "coordinates": [[
                 [-73.5610, 45.4990], [-73.5590, 45.4990], [-73.5590, 45.5010],
                 [-73.5610, 45.5010], [-73.5610, 45.4990]]]}},
              {"type": "Feature", "id": "pump", "properties": {"name": "Pump house"},
               "geometry": {"type": "Point", "coordinates": [$PUMP_LONGITUDE, $PUMP_LATITUDE]}}
            ]}
        """.trimIndent()
    }
}
