import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.CheckinReason
import uniffi.vigil_ffi.Fix
import uniffi.vigil_ffi.FixSource
import uniffi.vigil_ffi.LatLon
import uniffi.vigil_ffi.ScanMethod
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.checkinReasonText
import uniffi.vigil_ffi.simplifyTrack

/**
 * Walks a tour from Kotlin: a site served by `vigil serve --site`, a GPS check-in credited
 * to the tour, its progress, and the round closed with missed checkpoints at shift end.
 */
class TourTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-tour").toFile()
        val site = File(folder, "yard.geojson")
        site.writeText(SITE_GEOJSON)
        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, ENROLLMENT_CODE, "--site", site.path)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }


    private fun pumpFix(timeMs: Long) = Fix(
        latitude = PUMP_LATITUDE,
        longitude = PUMP_LONGITUDE,
        accuracyM = 4.0,
        altitudeM = null,
        speedMps = null,
        bearingDeg = null,
        source = FixSource.GNSS,
        mock = false,
        fixTimeMs = timeMs,
    )

    @Test
    fun tourProgressAndMissedCheckpoints() = runBlocking {
        val device = Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-tour-device",
                guardId = "kotlin-guard",
                serverUrl = serverUrl,
                enrollmentCode = ENROLLMENT_CODE,
                syncAttempts = 2u,
                retryBaseDelayMs = 20uL,
                requestTimeoutMs = 3000uL,
            ),
        )
        assertEquals(1uL, device.syncNow().sitesReceived)
        val tour = device.sites().single().tours.single()
        assertEquals(listOf("yard#corner1", "yard#corner2", "yard#corner3", "yard#corner4", "pump"), tour.checkpointIds)

        device.startShift("yard")
        assertTrue(device.checkTours().isEmpty(), "no round has closed yet")
        device.recordFixes(listOf(pumpFix(System.currentTimeMillis())))
        val checkIn = device.scanCheckpoint(ScanMethod.GPS, "pump")
        assertTrue(checkIn.accepted, "reasons: ${checkIn.reasons}")
        assertEquals(listOf(tour.id), checkIn.tourIds)

        val progress = device.tourProgress().single()
        assertEquals(0L, progress.openRound)
        assertEquals(listOf("pump"), progress.visited.map { it.checkpointId })
        assertEquals(4, progress.remaining.size)

        device.endShift()
        val report = device.shiftReport()
        assertEquals(1uL, report.siteEntries, "the fix at the pump is well inside the yard")
        assertEquals(0uL, report.siteExits)
        val round = report.tourRounds.single()
        assertEquals("shift_ended", round.closedBy)
        assertEquals("incomplete", round.status)
        assertEquals(listOf("yard#corner1", "yard#corner2", "yard#corner3", "yard#corner4"), round.missed)
        assertTrue(device.tourProgress().isEmpty(), "no shift is active")
        device.close()
    }

    @Test
    fun tourReasonsHaveWording() {
        val reason = CheckinReason("too_soon", mapOf("tour_id" to "night", "seconds_since_last_scan" to "12", "min_seconds" to "90"))
        val english = checkinReasonText(reason, "en")
        val spanish = checkinReasonText(reason, "es")
        val portuguese = checkinReasonText(reason, "pt-BR")
        assertTrue(english.contains("12 s"), english)
        assertTrue(english.contains("90 s"), english)
        assertTrue(spanish.contains("ronda night"), spanish)
        assertTrue(portuguese.contains("ronda night"), portuguese)
    }

    @Test
    fun straightWalkSimplifiesToItsEnds() {
        val walk = (0 until 100).map { LatLon(45.5 + it * 1.4 / 111_195.0, -73.56) }
        val simple = simplifyTrack(walk, 2.0)
        assertEquals(listOf(0uL, 99uL), simple.keptIndices)
        assertEquals(walk.first(), simple.points.first())
        assertTrue(simple.maxDeviationM < 0.01, "deviation ${simple.maxDeviationM}")
        assertTrue(simplifyTrack(emptyList(), 5.0).points.isEmpty())
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-tour-code"
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
