import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.BootClockReading
import uniffi.vigil_ffi.BootClockSource
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig

/** A monotonic clock the app supplies, as an iOS app does, and counts its readings. */
private class AppBootClock(private val reading: BootClockReading?) : BootClockSource {
    @Volatile var calls = 0

    override fun reading(): BootClockReading? {
        calls += 1
        return reading
    }
}

/**
 * Records captured with the app's monotonic clock carry its reading, so their capture time
 * is corrected against the SOC's clock; without a reading nothing is corrected.
 */
class BootClockTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-boot-clock").toFile()
        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, CODE)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun open(name: String, clock: BootClockSource): Vigil = Vigil.openWithBootClock(
        File(folder, name).path,
        VigilConfig(
            deviceId = name,
            guardId = "kotlin-guard",
            serverUrl = serverUrl,
            enrollmentCode = CODE,
        ),
        clock,
    )

    @Test
    fun appReadingCorrectsCaptureTime() = runBlocking {
        val clock = AppBootClock(BootClockReading(bootId = "ios-boot-1", sinceBootMs = 5_000_000))
        val device = open("with-reading", clock)

        val recordId = device.logIncident("door", Severity.LOW, "Open")
        device.syncNow()

        assertTrue(clock.calls > 0, "Vigil read the app's clock")
        val time = device.correctedTime(recordId)
        assertNotNull(time.correctedMs, "corrected against the SOC's clock")
        assertEquals(emptyList(), time.flags)
        device.close()
    }

    @Test
    fun missingReadingLeavesTimeUncorrected() = runBlocking {
        // On Linux the library's own clock has readings, so an uncorrected time shows that
        // the app's clock replaced it.
        val device = open("without-reading", AppBootClock(null))

        val recordId = device.logIncident("door", Severity.LOW, "Open")
        device.syncNow()

        assertNull(device.clockOffset(), "no offset is known without a monotonic reading")
        val time = device.correctedTime(recordId)
        assertNull(time.correctedMs)
        device.close()
    }

    private companion object {
        const val CODE = "boot-clock-code"
    }
}
